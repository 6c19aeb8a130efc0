"""node_app: the layer server that runs on each (real or emulated) Raspberry Pi.

It receives float32 frames over HTTP, runs its slice of the DNN in numpy, waits out the
device profile (so a lab host behaves like a Pi 3B), and forwards the result to the next
hop. Only the stdlib and numpy are used so the package runs under Debian's system python.
The contract it implements is docs/architecture.md.
"""

__version__ = "0.1.0"
