# Warnings for roundoff's own targets. CI (scripts/test) configures with ROUNDOFF_WERROR=ON, so a
# new warning fails the build there; it stays off by default so that a newer compiler with new
# warnings does not break a user's build.
option(ROUNDOFF_WERROR "Treat warnings in roundoff's own targets as errors (on in CI)" OFF)

function(roundoff_set_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion>)
  if(ROUNDOFF_WERROR)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
  endif()
endfunction()

# roundoff_add_library(<layer> SOURCES ... DEPS ...): one target per layer, roundoff::<layer> alias.
function(roundoff_add_library layer)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(roundoff_${layer} ${ARG_SOURCES})
  add_library(roundoff::${layer} ALIAS roundoff_${layer})
  set_target_properties(roundoff_${layer} PROPERTIES EXPORT_NAME ${layer})
  target_include_directories(roundoff_${layer} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(roundoff_${layer} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  roundoff_set_warnings(roundoff_${layer})
  set_property(GLOBAL APPEND PROPERTY ROUNDOFF_LIBRARY_TARGETS roundoff_${layer})
endfunction()
