# SPDX-License-Identifier: MIT
# Tests of engine/shard (included from tests/CMakeLists.txt).
gv_unit_test(spsc SOURCES unit/test_spsc.c LIBS gv_shard Threads::Threads
	TIMEOUT 120 LABELS concurrency)
gv_unit_test(metrics SOURCES unit/test_metrics.c LIBS gv_shard
	Threads::Threads TIMEOUT 60 LABELS concurrency)
gv_unit_test(shard SOURCES unit/test_shard.c LIBS gv_shard Threads::Threads
	TIMEOUT 120 LABELS concurrency)
