# SPDX-License-Identifier: MIT
# The small CMake vocabulary grapevine uses per folder.

# gv_unit_test(NAME SOURCES... [LIBS libs...] [TIMEOUT s] [LABELS l...])
# Builds tests/unit/test_NAME as an executable linked to cmocka and the test
# support library, registers it with CTest (exit 77 = skipped).
function(gv_unit_test name)
	cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
	if(NOT T_TIMEOUT)
		set(T_TIMEOUT 120)
	endif()
	add_executable(test_${name} ${T_SOURCES})
	target_link_libraries(test_${name} PRIVATE gv_test_support ${T_LIBS}
		PkgConfig::CMOCKA gv_flags)
	add_test(NAME ${name} COMMAND test_${name})
	set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT}
		SKIP_RETURN_CODE 77 LABELS "unit;${T_LABELS}")
endfunction()
