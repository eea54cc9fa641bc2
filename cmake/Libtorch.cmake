# Libtorch — finds the libtorch rlvr.c builds against, checks its version, and sets TORCH_LIBRARIES
# and TORCH_INCLUDE_DIRS for tensor/ (the only C++) and its consumers. Two sources:
#
#   RLVR_LIBTORCH=DIR  a libtorch prefix with include/ and lib/: the torch/ folder of PyPI's torch
#                      wheel (scripts/venv.sh installs one), or the libtorch archive. Imported
#                      directly: its own libtorch, libtorch_cpu and libc10 (libtorch pulls in
#                      libtorch_cuda and the CUDA runtime beside it through its RPATH). Its
#                      TorchConfig is not used: a CUDA build's config requires a CUDA toolkit to
#                      configure and links that toolkit's cudart and nvrtc beside the wheel's own.
#   otherwise          find_package(Torch): Debian's libtorch-dev (1.13, CPU), or a prefix on
#                      CMAKE_PREFIX_PATH. Its headers and libtorch.so must come from one prefix.
#
# The version is read from the headers tensor/ compiles against (TORCH_VERSION_MAJOR/MINOR, which
# tensor/ tests for the ops each version has); outside RLVR_TORCH_MIN..RLVR_TORCH_MAX configuring
# stops with one message naming the version found and the versions supported.

set(RLVR_TORCH_MIN 1.13) # Debian 12's libtorch-dev
set(RLVR_TORCH_MAX 2.15) # the torch wheel the suite runs against (scripts/requirements.txt)
set(RLVR_LIBTORCH "" CACHE PATH "libtorch prefix with include/ and lib/ (e.g. a torch wheel's torch/ folder); empty: find_package(Torch)")

# The version in the first of incdirs that has torch's version header, as MAJOR.MINOR.PATCH in out.
function(rlvr_torch_header_version out where)
  foreach(dir ${ARGN})
    foreach(h torch/headeronly/version.h torch/version.h torch/csrc/api/include/torch/version.h)
      if(EXISTS "${dir}/${h}")
        file(STRINGS "${dir}/${h}" defs REGEX "^#define TORCH_VERSION_(MAJOR|MINOR|PATCH) +[0-9]+")
        set(v "")
        foreach(part MAJOR MINOR PATCH)
          string(REGEX MATCH "TORCH_VERSION_${part} +([0-9]+)" m "${defs}")
          if(NOT m)
            message(FATAL_ERROR "libtorch at ${where}: ${dir}/${h} has no TORCH_VERSION_${part}")
          endif()
          list(APPEND v ${CMAKE_MATCH_1})
        endforeach()
        string(REPLACE ";" "." v "${v}")
        set(${out} ${v} PARENT_SCOPE)
        return()
      endif()
    endforeach()
  endforeach()
  message(FATAL_ERROR "libtorch at ${where}: no torch/version.h under ${ARGN} (expected a libtorch "
                      "install with its C++ headers)")
endfunction()

function(rlvr_torch_check_version version where)
  string(REGEX MATCH "^[0-9]+\\.[0-9]+" minor "${version}")
  if(minor VERSION_LESS RLVR_TORCH_MIN OR minor VERSION_GREATER RLVR_TORCH_MAX)
    message(FATAL_ERROR "libtorch ${version} at ${where} is not supported: rlvr.c builds against "
                        "libtorch ${RLVR_TORCH_MIN} to ${RLVR_TORCH_MAX} (the suite runs against "
                        "Debian's libtorch-dev ${RLVR_TORCH_MIN} and PyPI's torch ${RLVR_TORCH_MAX}: "
                        "scripts/venv.sh --torch-dir gives its -DRLVR_LIBTORCH=DIR)")
  endif()
endfunction()

if(RLVR_LIBTORCH)
  get_filename_component(prefix "${RLVR_LIBTORCH}" ABSOLUTE)
  if(NOT EXISTS "${prefix}/include" OR NOT EXISTS "${prefix}/lib")
    message(FATAL_ERROR "RLVR_LIBTORCH=${RLVR_LIBTORCH}: no include/ and lib/ there (expected a libtorch "
                        "prefix, e.g. the torch/ folder of a torch wheel: python -c 'import torch, os; "
                        "print(os.path.dirname(torch.__file__))')")
  endif()
  set(TORCH_INCLUDE_DIRS "${prefix}/include" "${prefix}/include/torch/csrc/api/include")
  rlvr_torch_header_version(TORCH_VERSION "${prefix}" ${TORCH_INCLUDE_DIRS})
  rlvr_torch_check_version(${TORCH_VERSION} "${prefix}")
  set(libs "")
  foreach(name torch torch_cpu c10)
    set(lib "${prefix}/lib/${CMAKE_SHARED_LIBRARY_PREFIX}${name}${CMAKE_SHARED_LIBRARY_SUFFIX}")
    if(NOT EXISTS "${lib}")
      message(FATAL_ERROR "RLVR_LIBTORCH=${RLVR_LIBTORCH}: ${lib} is missing (libtorch ${TORCH_VERSION})")
    endif()
    list(APPEND libs "${lib}")
  endforeach()
  add_library(rlvr_libtorch INTERFACE IMPORTED)
  target_include_directories(rlvr_libtorch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
  # libtorch registers its CUDA backend from libtorch_cuda's initialisers: keep libtorch linked
  target_link_libraries(rlvr_libtorch INTERFACE "-Wl,--no-as-needed" ${libs} "-Wl,--as-needed")
  if(TORCH_VERSION VERSION_GREATER_EQUAL 2.0)
    target_compile_features(rlvr_libtorch INTERFACE cxx_std_20) # as torch 2.x's TorchConfig asks
  endif()
  # wheels before torch 2.7 use the pre-C++11 string ABI; their TorchConfig says which
  file(GLOB cfg "${prefix}/share/cmake/Torch/TorchConfig.cmake")
  if(cfg)
    file(STRINGS "${cfg}" abi REGEX "_GLIBCXX_USE_CXX11_ABI=[01]")
    if(abi MATCHES "_GLIBCXX_USE_CXX11_ABI=0")
      target_compile_definitions(rlvr_libtorch INTERFACE _GLIBCXX_USE_CXX11_ABI=0)
    endif()
  endif()
  set(TORCH_LIBRARIES rlvr_libtorch)
  set(RLVR_TORCH_SOURCE "${prefix}")
else()
  find_package(Torch REQUIRED)
  rlvr_torch_header_version(TORCH_VERSION "${Torch_DIR}" ${TORCH_INCLUDE_DIRS})
  rlvr_torch_check_version(${TORCH_VERSION} "${Torch_DIR}")
  get_filename_component(prefix "${TORCH_INSTALL_PREFIX}" ABSOLUTE)
  string(FIND "${TORCH_LIBRARY}" "${prefix}/" at)
  if(NOT at EQUAL 0)
    message(FATAL_ERROR "libtorch ${TORCH_VERSION}: the headers are under ${prefix} but libtorch is "
                        "${TORCH_LIBRARY}; mixing two libtorch installs breaks at run time. Pass the "
                        "prefix that holds both (CMAKE_PREFIX_PATH=<prefix>, or -DRLVR_LIBTORCH=<prefix>)")
  endif()
  set(RLVR_TORCH_SOURCE "${Torch_DIR}")
endif()
set(RLVR_TORCH_VERSION ${TORCH_VERSION} CACHE INTERNAL "the libtorch version configured (tests compare rlvr doctor's)")
message(STATUS "libtorch ${TORCH_VERSION} from ${RLVR_TORCH_SOURCE}")
