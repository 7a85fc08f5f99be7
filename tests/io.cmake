# SPDX-License-Identifier: MIT
# gv_io: the real-network transport, over loopback, with both backends.
# Labelled "concurrency" too: the wake-up and run/stop cases cross threads,
# so the TSan pass runs them.
gv_unit_test(io SOURCES unit/test_io.c LIBS gv_io TIMEOUT 120
	LABELS io concurrency)
gv_unit_test(io_nodes SOURCES unit/test_io_nodes.c LIBS gv_io TIMEOUT 120
	LABELS io)
# the stream channel over TCP: clear and sealed exchanges, refused
# handshakes, backpressure, garbage, a peer gone
gv_unit_test(tcp SOURCES unit/test_tcp.c LIBS gv_io TIMEOUT 120 LABELS io)
