# One static library per module: src/<name>/*.cpp, public headers in include/fathom/<name>/.
# Third-party libraries that must not leak into users' compile lines go in PRIVATE.
function(fathom_module name)
  cmake_parse_arguments(M "" "" "PUBLIC;PRIVATE" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${name}/*.cpp)
  if(NOT srcs)
    # A module being started: an empty library until its first source lands
    # (the CONFIGURE_DEPENDS glob picks that up on the next build).
    set(srcs ${PROJECT_SOURCE_DIR}/cmake/empty_module.cpp)
  endif()
  add_library(fathom_${name} STATIC ${srcs})
  add_library(fathom::${name} ALIAS fathom_${name})
  target_include_directories(fathom_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(fathom_${name} PUBLIC ${M_PUBLIC} PRIVATE ${M_PRIVATE})
  target_compile_options(fathom_${name} PRIVATE -Wall -Wextra -Wno-unused-parameter)
endfunction()
