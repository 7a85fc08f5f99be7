# SPDX-License-Identifier: MIT
# Real partitions (issue 6): three grapevined in network namespaces joined by
# a bridge, cut with nft, slowed with netem, crashed with kill -9 (python3,
# root). Skipped (77) where namespaces cannot be made.
find_package(Python3 COMPONENTS Interpreter)
if(Python3_Interpreter_FOUND)
	add_test(NAME netns
		COMMAND ${Python3_EXECUTABLE}
			${CMAKE_CURRENT_SOURCE_DIR}/netns/netns_test.py
			$<TARGET_FILE:grapevined> $<TARGET_FILE:gvctl>)
	set_tests_properties(netns PROPERTIES TIMEOUT 300
		SKIP_RETURN_CODE 77 LABELS netns)
endif()
