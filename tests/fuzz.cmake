# SPDX-License-Identifier: MIT
# Fuzz targets (tests/fuzz/). In every build, each target is linked with
# replay.c's main() and CTest replays its checked-in corpus (seeds and past
# crashes) under the build's sanitizers. With GV_FUZZ=ON and clang
# (tools/fuzz.sh), the same targets are also linked with libFuzzer as
# fuzz_<name> for real fuzzing.
set(GV_FUZZ_TARGETS wire resp node node_sealed sealed keyring stream
	compressed persist)
set(fuzz_libs_wire gv_core)
set(fuzz_libs_resp gv_server)
set(fuzz_libs_node gv_core)
set(fuzz_libs_node_sealed gv_core)
set(fuzz_libs_sealed gv_core)
set(fuzz_libs_keyring gv_core)
set(fuzz_libs_stream gv_io)
set(fuzz_libs_compressed gv_core)
set(fuzz_libs_persist gv_server)
foreach(t ${GV_FUZZ_TARGETS})
	add_executable(fuzz_replay_${t} fuzz/fuzz_${t}.c fuzz/replay.c)
	target_include_directories(fuzz_replay_${t} PRIVATE
		${PROJECT_SOURCE_DIR}/engine)
	target_link_libraries(fuzz_replay_${t} PRIVATE ${fuzz_libs_${t}}
		gv_flags)
	add_test(NAME fuzz_replay_${t}
		COMMAND fuzz_replay_${t}
			${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${t})
	set_tests_properties(fuzz_replay_${t} PROPERTIES TIMEOUT 120
		LABELS fuzz)
	if(GV_FUZZ)
		add_executable(fuzz_${t} fuzz/fuzz_${t}.c)
		target_include_directories(fuzz_${t} PRIVATE
			${PROJECT_SOURCE_DIR}/engine)
		target_link_libraries(fuzz_${t} PRIVATE ${fuzz_libs_${t}}
			gv_flags)
		target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer)
	endif()
endforeach()
