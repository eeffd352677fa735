"""What the harnesses share: waiting for something a host did, never for a fixed time."""
import time


def wait_for(proc, ready, timeout, poll=0.02):
    """Waits until `ready()` holds (something the host did); False when the process exits
    or `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(poll)
    return False
