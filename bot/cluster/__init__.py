"""The cluster runtime: durable intake, partition-owning workers, one engine authority, a durable outbound queue.

Each role has an in-process implementation (the embedded default: one process, no services) and a Redis
Streams implementation (consumer groups; PostgreSQL stays the system of record). See README "Run at scale".
"""
