#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Test wrapper for `meson test --setup valgrind`: memcheck for the project's own binaries only.
#
# Usage: valgrind-wrap.sh BUILD-ROOT PROGRAM ARGS...
# A program built in BUILD-ROOT runs under valgrind memcheck; any error or
# definite leak fails the test. Anything else (bash running a script test,
# python3) runs as it is: valgrind would only measure the interpreter.
set -u
build_root=$(cd "$1" && pwd -P)
shift
prog=$(readlink -f "$1")
case "$prog" in
"$build_root"/*)
    exec valgrind --tool=memcheck --error-exitcode=1 --leak-check=full \
        --errors-for-leak-kinds=definite --show-leak-kinds=definite \
        --suppressions="$(dirname "$0")/valgrind.supp" --quiet "$@" ;;
*)
    exec "$@" ;;
esac
