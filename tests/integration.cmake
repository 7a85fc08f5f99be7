# SPDX-License-Identifier: MIT
# Integration tests: real grapevined processes on loopback (python3).
# Debian's interpreter when there is one: it has the distribution's modules
# (python3-redis, for the command table's redis-py checks), which a python3
# first on PATH (a pyenv build) may lack. -DPython3_EXECUTABLE=... wins.
if(NOT DEFINED Python3_EXECUTABLE AND EXISTS /usr/bin/python3)
	set(Python3_EXECUTABLE /usr/bin/python3)
endif()
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
	add_test(NAME integration
		COMMAND ${Python3_EXECUTABLE}
			${CMAKE_CURRENT_SOURCE_DIR}/integration/cluster_test.py
			$<TARGET_FILE:grapevined>)
	set_tests_properties(integration PROPERTIES TIMEOUT 400
		SKIP_RETURN_CODE 77 LABELS integration)
	# a slow RESP client cannot stall gossip (~6 s)
	add_test(NAME integration_backpressure
		COMMAND ${Python3_EXECUTABLE}
			${CMAKE_CURRENT_SOURCE_DIR}/integration/cluster_test.py
			$<TARGET_FILE:grapevined> backpressure)
	set_tests_properties(integration_backpressure PROPERTIES TIMEOUT 120
		SKIP_RETURN_CODE 77 LABELS integration)
endif()
if(Python3_Interpreter_FOUND)
	add_test(NAME integration_keyring
		COMMAND ${Python3_EXECUTABLE}
			${CMAKE_CURRENT_SOURCE_DIR}/integration/keyring_test.py
			$<TARGET_FILE:grapevined> $<TARGET_FILE:gvctl>)
	set_tests_properties(integration_keyring PROPERTIES TIMEOUT 120
		SKIP_RETURN_CODE 77 LABELS integration)
endif()
if(Python3_Interpreter_FOUND)
	# cluster shards and host threads: mixed --threads, a one-CPU node
	# under taskset, 20 nodes in a region flooding on every shard
	add_test(NAME integration_shards
		COMMAND ${Python3_EXECUTABLE}
			${CMAKE_CURRENT_SOURCE_DIR}/integration/shards_test.py
			$<TARGET_FILE:grapevined>)
	set_tests_properties(integration_shards PROPERTIES TIMEOUT 300
		SKIP_RETURN_CODE 77 LABELS integration)
endif()
if(Python3_Interpreter_FOUND)
	# /metrics: promtool-clean, the same values as GV.STATS, and never
	# stalls RESP replies (silent and unread scrapers, the connection cap)
	add_test(NAME integration_metrics
		COMMAND ${Python3_EXECUTABLE}
			${CMAKE_CURRENT_SOURCE_DIR}/integration/metrics_test.py
			$<TARGET_FILE:grapevined>)
	set_tests_properties(integration_metrics PROPERTIES TIMEOUT 60
		SKIP_RETURN_CODE 77 LABELS integration)
endif()
if(Python3_Interpreter_FOUND)
	# MULTI/EXEC/WATCH byte for byte against a real redis-server,
	# redis-py pipelines, WATCH vs local and gossip writes, 200,000-key
	# MSET/MGET/DEL, a reader never sees half an EXEC (skips without
	# redis-server)
	add_test(NAME integration_txn
		COMMAND ${Python3_EXECUTABLE}
			${CMAKE_CURRENT_SOURCE_DIR}/integration/txn_test.py
			$<TARGET_FILE:grapevined>)
	set_tests_properties(integration_txn PROPERTIES TIMEOUT 300
		SKIP_RETURN_CODE 77 LABELS integration)
endif()
