# SPDX-License-Identifier: MIT
# The RESP codec (engine/server/resp_parse.c, resp_out.c) and gvctl's
# command line.
gv_unit_test(resp SOURCES unit/test_resp.c LIBS gv_server TIMEOUT 120)

if(TARGET gvctl)
	# Exit codes without a daemon: usage errors 2, unreachable daemon 1
	# (port 1 on loopback: nothing listens there).
	set(gvctl_exit_codes [=[
G=$1
want() {
	code=$1
	shift
	"$G" "$@" >/dev/null 2>&1
	rc=$?
	if [ "$rc" -ne "$code" ]
	then
		echo "gvctl $*: exit $rc, want $code"
		exit 1
	fi
}
want 0 --help
want 2
want 2 --bogus
want 2 --timeout abc get k
want 2 get
want 2 set k
want 2 nosuchcommand
want 2 -a nocolon get k
want 2 get k --count 2
want 1 -a 127.0.0.1:1 --timeout 1000 get k
"$G" -a 127.0.0.1:1 get k 2>&1 | grep -q 'cannot connect to 127.0.0.1:1'
]=])
	add_test(NAME gvctl_exit_codes
		COMMAND sh -c "${gvctl_exit_codes}" sh $<TARGET_FILE:gvctl>)
	set_tests_properties(gvctl_exit_codes PROPERTIES TIMEOUT 60
		LABELS tools)
endif()
