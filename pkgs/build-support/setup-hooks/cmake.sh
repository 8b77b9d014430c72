# cmake's setup hook, as nixpkgs': inputs on CMAKE_PREFIX_PATH (find_package, find_library)
# and a configure phase running cmake in ./build with the output as install prefix.
cmakeAddInput() {
    addToSearchPath CMAKE_PREFIX_PATH "$1"
    if [ -d "$1/include/x86_64-linux-gnu" ]; then
        addToSearchPath CMAKE_INCLUDE_PATH "$1/include/x86_64-linux-gnu"
    fi
}
envHooks+=(cmakeAddInput)
export CMAKE_PREFIX_PATH="${CMAKE_PREFIX_PATH:-}"
export CMAKE_INCLUDE_PATH="${CMAKE_INCLUDE_PATH:-}"

cmakeConfigurePhase() {
    runHook preConfigure
    if [ -z "${dontUseCmakeBuildDir:-}" ]; then
        mkdir -p build
        cd build
        : "${cmakeDir:=..}"
    fi
    local -a flags=(
        "-DCMAKE_INSTALL_PREFIX=$prefix"
        "-DCMAKE_BUILD_TYPE=${cmakeBuildType:-Release}"
        "-DCMAKE_INSTALL_LIBDIR=lib"
        "-DCMAKE_INSTALL_INCLUDEDIR=include"
        "-DCMAKE_INSTALL_BINDIR=bin"
        "-DCMAKE_SKIP_BUILD_RPATH=ON"
    )
    local -a extra
    read -r -a extra <<<"${cmakeFlags:-}"
    flags+=(${extra[@]+"${extra[@]}"} ${cmakeFlagsArray[@]+"${cmakeFlagsArray[@]}"})
    echoCmd 'cmake flags' "${flags[@]}"
    cmake "${cmakeDir:-.}" "${flags[@]}"
    runHook postConfigure
}

if [ -z "${dontUseCmakeConfigure:-}" ] && [ -z "${configurePhase:-}" ]; then
    configurePhase=cmakeConfigurePhase
fi
