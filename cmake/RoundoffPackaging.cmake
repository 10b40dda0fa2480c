# Installable package: find_package(roundoff) gives roundoff::roundoff and one roundoff::<layer>
# target per layer. tests/packaging builds examples/ against the installed tree.
include(CMakePackageConfigHelpers)
get_property(_roundoff_libs GLOBAL PROPERTY ROUNDOFF_LIBRARY_TARGETS)
set(_roundoff_export ${_roundoff_libs} roundoff)
if(TARGET roundoff_torch)
  list(APPEND _roundoff_export roundoff_torch)
endif()
install(TARGETS ${_roundoff_export} EXPORT roundoffTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/roundoff DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_BINARY_DIR}/include/roundoff/version.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/roundoff)
set(_cfgdir ${CMAKE_INSTALL_LIBDIR}/cmake/roundoff)
install(EXPORT roundoffTargets NAMESPACE roundoff:: DESTINATION ${_cfgdir})
if(BUILD_SHARED_LIBS)
  set(BUILD_SHARED_LIBS_FOR_CONFIG TRUE)
else()
  set(BUILD_SHARED_LIBS_FOR_CONFIG FALSE)
endif()
configure_package_config_file(cmake/roundoffConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/roundoffConfig.cmake INSTALL_DESTINATION ${_cfgdir})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/roundoffConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/roundoffConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/roundoffConfigVersion.cmake
              cmake/FindMPFR.cmake cmake/FindOpenBLAS.cmake
        DESTINATION ${_cfgdir})
