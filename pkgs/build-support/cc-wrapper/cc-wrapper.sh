#! @shell@
# rnix-pkgs' cc-wrapper: Debian's GCC 12 with the store's C library, as nixpkgs' cc-wrapper.
# Adds the search paths of the C library, the dynamic linker and RUNPATH of the store's
# glibc, and the flags the setup hook collected from the build's inputs:
# NIX_CFLAGS_COMPILE (`-isystem <input>/include`) and NIX_LDFLAGS (`-L<input>/lib`,
# `-rpath <input>/lib`, given to the linker).
set -u
linking=1
for a in "$@"; do
    case "$a" in
        -c | -S | -E | -M | -MM | -fsyntax-only) linking= ;;
    esac
done
before=(-B@gcc@/lib/gcc/x86_64-linux-gnu/12/ -B@libcDev@/lib/ -B@glibc@/lib/ -B@binutils@/bin/)
after=(-idirafter @libcDev@/include/x86_64-linux-gnu -idirafter @libcDev@/include
    -idirafter @linuxHeaders@/include/x86_64-linux-gnu -idirafter @linuxHeaders@/include)
read -ra cflags <<<"${NIX_CFLAGS_COMPILE:-}"
if [ -n "$linking" ]; then
    after+=(-L@glibc@/lib -L@libcDev@/lib -L@libgccs@/lib
        -Wl,-dynamic-linker=@glibc@/lib/ld-linux-x86-64.so.2 -Wl,-rpath,@glibc@/lib @extraRpath@)
    read -ra ldflags <<<"${NIX_LDFLAGS:-}"
    for f in ${ldflags[@]+"${ldflags[@]}"}; do
        case "$f" in
            -L* | -l*) after+=("$f") ;;
            *) after+=("-Wl,$f") ;;
        esac
    done
fi
exec @gcc@/bin/@prog@ "${before[@]}" ${cflags[@]+"${cflags[@]}"} "$@" "${after[@]}"
