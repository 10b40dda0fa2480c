# cmake -DPROGRAM=<executable> -P check_links.cmake
# Fails when the program's dynamic dependencies (ldd) include MPFR, GMP or OpenBLAS: a program
# that uses only roundoff::formats (or the bounds formulas) must not link the exact engine's
# oracle, nor the BLAS that the exact engine, ops and verdicts use.
cmake_minimum_required(VERSION 3.25)
execute_process(COMMAND ldd "${PROGRAM}" OUTPUT_VARIABLE _ldd RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "ldd ${PROGRAM} failed (${_rc})")
endif()
if(_ldd MATCHES "libmpfr|libgmp|libopenblas")
  message(FATAL_ERROR "${PROGRAM} links MPFR/GMP/OpenBLAS:\n${_ldd}")
endif()
message(STATUS "${PROGRAM} links neither MPFR, GMP nor OpenBLAS")
