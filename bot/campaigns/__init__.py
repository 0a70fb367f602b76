"""Upgrade-nudge campaigns, the I/O part: tables, audience queries, the send queue, the runner and reports.
The pure rules are in the top-level ``campaigns`` package."""
