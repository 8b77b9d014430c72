# rnix-pkgs' cc-wrapper setup hook: every input's headers, libraries and pkg-config files
# for the compiler (as nixpkgs' cc-wrapper and pkg-config hooks).
ccWrapperAddInput() {
    local pkg="$1"
    if [ -d "$pkg/include" ]; then
        NIX_CFLAGS_COMPILE="${NIX_CFLAGS_COMPILE:-}${NIX_CFLAGS_COMPILE:+ }-isystem $pkg/include"
    fi
    if [ -d "$pkg/include/x86_64-linux-gnu" ]; then
        NIX_CFLAGS_COMPILE="$NIX_CFLAGS_COMPILE -isystem $pkg/include/x86_64-linux-gnu"
    fi
    if [ -d "$pkg/lib" ]; then
        NIX_LDFLAGS="${NIX_LDFLAGS:-}${NIX_LDFLAGS:+ }-L$pkg/lib"
        # RUNPATH only where shared libraries are (a -dev package's lib*.so are links)
        local f
        for f in "$pkg"/lib/*.so "$pkg"/lib/*.so.*; do
            if [ -f "$f" ] && [ ! -L "$f" ]; then
                NIX_LDFLAGS="$NIX_LDFLAGS -rpath $pkg/lib"
                break
            fi
        done
    fi
    local d
    for d in lib/pkgconfig share/pkgconfig; do
        if [ -d "$pkg/$d" ]; then addToSearchPath PKG_CONFIG_PATH "$pkg/$d"; fi
    done
    return 0
}
envHooks+=(ccWrapperAddInput)
export NIX_CFLAGS_COMPILE="${NIX_CFLAGS_COMPILE:-}"
export NIX_LDFLAGS="${NIX_LDFLAGS:-}"
export PKG_CONFIG_PATH="${PKG_CONFIG_PATH:-}"
export CC=gcc CXX=g++ CPP=cpp

# After the install, RUNPATHs keep only the directories that provide a needed library
# (nixpkgs' patchELF hook: `patchelf --shrink-rpath`).
ccWrapperShrinkRpath() {
    if [ -n "${dontPatchELF:-}" ] || [ ! -e "$prefix" ]; then return 0; fi
    local f
    while IFS= read -r -d '' f; do
        if [ "$(head -c 4 "$f")" = $'\x7fELF' ]; then
            patchelf --shrink-rpath "$f" || true
        fi
    done < <(find "$prefix" -type f \( -name '*.so*' -o -perm -0100 \) -print0)
}
fixupOutputHooks+=(ccWrapperShrinkRpath)
