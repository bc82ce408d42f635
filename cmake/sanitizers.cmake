# Sanitizer builds: every target defined after this file is included (the libraries,
# the maintgate binary, the test programs) is compiled and linked with the sanitizers
# named in MAINTGATE_SANITIZE, so a report anywhere in the suite fails it.
#
#   cmake -S . -B build-asan -DMAINTGATE_SANITIZE=address,undefined
#   cmake -S . -B build-tsan -DMAINTGATE_SANITIZE=thread
#
# scripts/sanitize.sh configures, builds and runs these; empty (the default) changes
# nothing. Included from the top-level CMakeLists.txt before the first target; the guard
# lets a build also pull it in with -DCMAKE_PROJECT_INCLUDE without adding it twice.
include_guard(GLOBAL)

set(MAINTGATE_SANITIZE "" CACHE STRING
    "sanitizers for every target: empty, address,undefined (ASan+UBSan) or thread (TSan)")

if(MAINTGATE_SANITIZE)
  if(MAINTGATE_SANITIZE MATCHES "thread" AND MAINTGATE_SANITIZE MATCHES "address|leak")
    # The runtimes cannot share one process: both own the shadow memory.
    message(FATAL_ERROR "MAINTGATE_SANITIZE: thread cannot be combined with address or leak")
  endif()
  # -fno-sanitize-recover=all: UBSan's default is to print and carry on, which a test
  # would not notice; stopping at the first report turns it into a failure.
  # -fno-omit-frame-pointer: whole stacks in the reports, cheaply.
  set(maintgate_sanitize_flags -fsanitize=${MAINTGATE_SANITIZE} -fno-sanitize-recover=all
      -fno-omit-frame-pointer)
  if(MAINTGATE_SANITIZE MATCHES "undefined")
    # Except UBSan's vptr check: it decides whether a vtable is readable by writing it
    # to a pipe(2), so in a process with no descriptors left (test_faults_process drives
    # maintgate there on purpose) it reports valid objects as "invalid vptr" and stops
    # the process. ASan still catches the use-after-free that check would mostly find.
    list(APPEND maintgate_sanitize_flags -fno-sanitize=vptr)
  endif()
  add_compile_options(${maintgate_sanitize_flags})
  add_link_options(${maintgate_sanitize_flags})
  if(MAINTGATE_SANITIZE MATCHES "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # Asio's std_fenced_block uses std::atomic_thread_fence, which TSan does not model;
    # GCC says so once per inlined use (hundreds of lines). Any race that follows from it
    # would show up as a report, which is what the run checks.
    add_compile_options(-Wno-tsan)
  endif()
  message(STATUS "maintgate: sanitizers ${MAINTGATE_SANITIZE}")
endif()
