# cmake -DPROGRAM=<executable> -P check_links.cmake
# Fails when the program's dynamic dependencies (ldd) include MPFR or GMP: a program that uses
# only roundoff::formats (or the bounds formulas) must not link the exact engine's oracle.
cmake_minimum_required(VERSION 3.25)
execute_process(COMMAND ldd "${PROGRAM}" OUTPUT_VARIABLE _ldd RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "ldd ${PROGRAM} failed (${_rc})")
endif()
if(_ldd MATCHES "libmpfr|libgmp")
  message(FATAL_ERROR "${PROGRAM} links MPFR/GMP:\n${_ldd}")
endif()
message(STATUS "${PROGRAM} links neither MPFR nor GMP")
