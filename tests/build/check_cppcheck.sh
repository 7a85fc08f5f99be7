#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# check_cppcheck.sh SRCDIR - cppcheck on engine/ with the warning and
# portability checks (bugs, undefined behaviour, non-portable code; style
# checks are left to review), any finding fails. A finding that is wrong
# is silenced where it is, with a "// cppcheck-suppress ID" comment and
# a reason.
set -uo pipefail
src=${1:?usage: check_cppcheck.sh SRCDIR}
command -v cppcheck >/dev/null || {
	echo "cppcheck not installed (tools/bootstrap.sh installs it): skipped"
	exit 77
}
cppcheck --version
cppcheck --quiet --enable=warning,portability --std=c11 \
	--error-exitcode=1 --inline-suppr \
	--suppress=missingIncludeSystem \
	-I "$src/include" -I "$src/engine" "$src/engine"
rc=$?
[ "$rc" -eq 0 ] && echo "cppcheck: engine/ clean"
exit "$rc"
