# Build-time script (cmake -DSRC=... -DOUT=... -P GitCommit.cmake): writes OUT, a header defining
# RLVR_GIT_COMMIT as the source tree's commit: its 12-digit abbreviated hash, "-dirty" appended
# when tracked files differ from it, "unknown" outside a git checkout. OUT is rewritten only when
# the value changes, so a rebuild recompiles only its users.
execute_process(COMMAND git -C "${SRC}" rev-parse --short=12 HEAD
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR commit STREQUAL "")
  set(commit "unknown")
else()
  execute_process(COMMAND git -C "${SRC}" status --porcelain --untracked-files=no
                  OUTPUT_VARIABLE changes ERROR_QUIET)
  if(NOT changes STREQUAL "")
    set(commit "${commit}-dirty")
  endif()
endif()
set(text "#define RLVR_GIT_COMMIT \"${commit}\"\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUT}" "${text}")
endif()
