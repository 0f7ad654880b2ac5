"""The parts of tools/bench: servers, load generators, and one module per measure
(chat, bodies, streams, fleet, tls), each of which runs its own servers and returns
its results and its section of docs/benchmark.md."""
