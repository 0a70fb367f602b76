"""Child processes (the long-text classifier, the ZK proving pool) die with their parent.

A parent killed with SIGKILL (a worker or engine taken down hard) never shuts its pools down, and their
children would live on, orphaned, holding a model or generator tables in memory. Each child watches its
parent and exits once the parent is gone.
"""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent(poll_s: float = 1.0) -> None:
    """Call in a pool's initializer: the child exits within ``poll_s`` of its parent's death."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
