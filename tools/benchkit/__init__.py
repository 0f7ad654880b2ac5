# SPDX-License-Identifier: Apache-2.0
# Copyright 2026 The mod_aoproxy authors (LICENSE)
"""The parts of tools/bench: servers, load generators, and one module per measure
(chat, bodies, streams, fleet, tls), each of which runs its own servers and returns
its results and its section of docs/benchmark.md."""
