"""Twittnow's common layer: settings, API plumbing, auth, repositories and clients.

In a Lambda instance, the garbage collector is off from here, the first module every
function's init loads (each function area's package imports it first), until the handler
is in hand (twittnow.observability.traced_handler): init only imports modules and builds
what lives as long as the instance, among which the collector's 120-odd passes found
about 440 objects of garbage in all, at 20 to 30 ms of a function's cold start
(bench/RESULTS.md, "Cold start")."""

import gc
import os

if os.environ.get("LAMBDA_TASK_ROOT"):
    gc.disable()
