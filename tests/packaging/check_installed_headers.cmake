# cmake -DPREFIX=<install prefix> -DVERSION=<project version> -P check_installed_headers.cmake
# Checks the installed front door: <roundoff/version.hpp> states this build's version, and every
# header <roundoff/roundoff.hpp> reaches is installed and none of them includes GoogleTest
# (roundoff/testing.hpp, which does, is deliberately left out of the umbrella) nor any private
# dependency (MPFR, GMP, Boost, Eigen, nlohmann_json, fmt, libzip, BLAS).
cmake_minimum_required(VERSION 3.25)
set(_inc "${PREFIX}/include")
file(READ "${_inc}/roundoff/version.hpp" _version_hpp)
string(REPLACE "." ";" _parts "${VERSION}")
list(GET _parts 0 _major)
list(GET _parts 1 _minor)
list(GET _parts 2 _patch)
foreach(_want IN ITEMS "#define ROUNDOFF_VERSION_MAJOR ${_major}\n"
                       "#define ROUNDOFF_VERSION_MINOR ${_minor}\n"
                       "#define ROUNDOFF_VERSION_PATCH ${_patch}\n"
                       "#define ROUNDOFF_VERSION_STRING \"${VERSION}\"\n")
  string(FIND "${_version_hpp}" "${_want}" _at)
  if(_at EQUAL -1)
    message(FATAL_ERROR "installed roundoff/version.hpp lacks: ${_want}")
  endif()
endforeach()

set(_todo roundoff/roundoff.hpp)
set(_seen)
while(_todo)
  list(POP_FRONT _todo _header)
  if(_header IN_LIST _seen)
    continue()
  endif()
  list(APPEND _seen ${_header})
  if(NOT EXISTS "${_inc}/${_header}")
    message(FATAL_ERROR "roundoff/roundoff.hpp reaches ${_header}, which is not installed")
  endif()
  file(STRINGS "${_inc}/${_header}" _includes REGEX "^[ \t]*#[ \t]*include")
  foreach(_line IN LISTS _includes)
    if(_line MATCHES "include[ \t]*[\"<](roundoff/[^\">]+)[\">]")
      list(APPEND _todo ${CMAKE_MATCH_1})
    elseif(_line MATCHES "gmock|gtest")
      message(FATAL_ERROR "${_header} includes GoogleTest (${_line}); roundoff/roundoff.hpp must not")
    elseif(_line MATCHES "mpfr|gmp|boost/|Eigen|nlohmann|fmt/|zip\\.h|cblas")
      # the package config does not find these for the headers: they are private dependencies
      message(FATAL_ERROR "${_header} includes a private dependency (${_line})")
    endif()
  endforeach()
endwhile()
list(LENGTH _seen _n)
message(STATUS "roundoff.hpp reaches ${_n} installed headers, none of them GoogleTest or a private dependency; version ${VERSION}")
