# hawser_library(<area> [DEPS ...]): one static library per top-level folder,
# built from every .cpp below it. Headers are included as "<area>/file.h".
function(hawser_library area)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  add_library(hawser_${area} STATIC ${srcs})
  target_include_directories(hawser_${area} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(hawser_${area} PUBLIC ${ARG_DEPS})
endfunction()
