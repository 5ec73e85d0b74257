"""The captioning worker (`python worker.py`): runs only in the worker process.

    model        the Captioner (TensorFlow), loaded once per process
    context      this process's store and Redis connections
    jobs         the RQ jobs: caption a stored photo, caption raw bytes (the API)
    maintenance  heartbeat, due retries and periodic reconciliation, on one thread
    process      the worker process itself and its command line

Jobs are enqueued by import path (photoshare.queueing), so the web process never
imports this package, the captioner or TensorFlow.
"""
