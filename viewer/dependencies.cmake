# What the seekscope viewer is built from, found without building anything. Included by the
# top-level CMakeLists.txt, which turns the viewer on when SEEK_VIEWER_MISSING comes back empty.
#
#   GLFW 3.3        pkg-config glfw3                         (libglfw3-dev)
#   Dear ImGui      pkg-config imgui, or imgui.h + libimgui   (libimgui-dev)
#   ImGui backends  imgui_impl_glfw.cpp, imgui_impl_opengl3.cpp: Debian ships them as example
#                   sources, not in libimgui.a's headers, so they are compiled here (gunzipped
#                   into the build tree first when the package compressed them)
#   stb             stb_image_write.h / stb_image.h + libstb  (libstb-dev)
#   OpenGL          libGL                                     (libgl-dev)
#
# Sets SEEK_VIEWER_MISSING (what was not found, for the message) and, when nothing is missing,
# the interface targets seek_viewer_libraries (everything seekscope links) and seek_stb (what
# tests/check_png needs), plus SEEK_IMGUI_BACKEND_SOURCES.
set(SEEK_VIEWER_MISSING "")

find_package(OpenGL QUIET)
if(NOT TARGET OpenGL::GL)
  list(APPEND SEEK_VIEWER_MISSING "OpenGL (libgl-dev)")
endif()

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(SEEK_GLFW QUIET IMPORTED_TARGET glfw3>=3.3)
  pkg_check_modules(SEEK_IMGUI QUIET IMPORTED_TARGET imgui)
endif()
if(NOT SEEK_GLFW_FOUND)
  list(APPEND SEEK_VIEWER_MISSING "GLFW 3.3 (libglfw3-dev)")
endif()

find_path(SEEK_IMGUI_INCLUDE_DIR imgui.h PATH_SUFFIXES imgui)
find_library(SEEK_IMGUI_LIBRARY NAMES libimgui.a imgui)
find_path(SEEK_IMGUI_BACKEND_INCLUDE_DIR imgui_impl_glfw.h PATH_SUFFIXES imgui/backends)
if(NOT SEEK_IMGUI_FOUND AND NOT (SEEK_IMGUI_INCLUDE_DIR AND SEEK_IMGUI_LIBRARY))
  list(APPEND SEEK_VIEWER_MISSING "Dear ImGui (libimgui-dev)")
endif()

set(SEEK_IMGUI_BACKEND_DIR /usr/share/doc/libimgui-dev/examples/backends CACHE PATH
    "Folder with imgui_impl_glfw.cpp and imgui_impl_opengl3.cpp (or .cpp.gz)")
set(SEEK_IMGUI_BACKEND_SOURCES "")
foreach(backend imgui_impl_glfw imgui_impl_opengl3)
  set(plain ${SEEK_IMGUI_BACKEND_DIR}/${backend}.cpp)
  set(unpacked ${CMAKE_BINARY_DIR}/imgui_backends/${backend}.cpp)
  if(EXISTS ${plain})
    list(APPEND SEEK_IMGUI_BACKEND_SOURCES ${plain})
  elseif(EXISTS ${plain}.gz)
    find_program(SEEK_GZIP gzip)
    file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/imgui_backends)
    execute_process(COMMAND ${SEEK_GZIP} -dc ${plain}.gz OUTPUT_FILE ${unpacked} RESULT_VARIABLE status)
    if(status EQUAL 0)
      list(APPEND SEEK_IMGUI_BACKEND_SOURCES ${unpacked})
    endif()
  endif()
endforeach()
list(LENGTH SEEK_IMGUI_BACKEND_SOURCES backend_count)
if(NOT backend_count EQUAL 2 OR NOT SEEK_IMGUI_BACKEND_INCLUDE_DIR)
  list(APPEND SEEK_VIEWER_MISSING "ImGui's GLFW and OpenGL3 backend sources in ${SEEK_IMGUI_BACKEND_DIR} (libimgui-dev)")
endif()

find_path(SEEK_STB_INCLUDE_DIR stb_image_write.h PATH_SUFFIXES stb)
find_library(SEEK_STB_LIBRARY stb)
if(NOT SEEK_STB_INCLUDE_DIR OR NOT SEEK_STB_LIBRARY)
  list(APPEND SEEK_VIEWER_MISSING "stb_image_write (libstb-dev)")
endif()

if(NOT SEEK_VIEWER_MISSING)
  add_library(seek_stb INTERFACE)
  target_include_directories(seek_stb INTERFACE ${SEEK_STB_INCLUDE_DIR})
  target_link_libraries(seek_stb INTERFACE ${SEEK_STB_LIBRARY})

  add_library(seek_viewer_libraries INTERFACE)
  if(SEEK_IMGUI_FOUND)
    target_link_libraries(seek_viewer_libraries INTERFACE PkgConfig::SEEK_IMGUI)
  else()
    target_include_directories(seek_viewer_libraries INTERFACE ${SEEK_IMGUI_INCLUDE_DIR})
    target_link_libraries(seek_viewer_libraries INTERFACE ${SEEK_IMGUI_LIBRARY})
  endif()
  target_include_directories(seek_viewer_libraries INTERFACE ${SEEK_IMGUI_BACKEND_INCLUDE_DIR})
  target_link_libraries(seek_viewer_libraries INTERFACE PkgConfig::SEEK_GLFW OpenGL::GL seek_stb ${CMAKE_DL_LIBS})
endif()
