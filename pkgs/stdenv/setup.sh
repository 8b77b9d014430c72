# rnix-pkgs generic builder: a compact version of nixpkgs' stdenv setup.sh.
#
# Sourced by every stdenv.mkDerivation builder (after `initialPath` and
# `defaultShell` have been set by the stdenv's own build). Provides
# `genericBuild`, the standard phases, `runHook` and the usual helpers
# (`substituteInPlace`, `patchShebangs`, `addToSearchPath`, `stripHash`, ...).

set -e
set -o pipefail
shopt -s extglob

if [ -n "${NIX_DEBUG:-}" ] && [ "${NIX_DEBUG:-0}" -ge 6 ]; then
    set -x
fi

: "${outputs:=out}"
: "${SOURCE_DATE_EPOCH:=315532800}"
export SOURCE_DATE_EPOCH
export CONFIG_SHELL="${defaultShell:-${SHELL:-/bin/sh}}"
export SHELL="$CONFIG_SHELL"
export NIX_BUILD_CORES="${NIX_BUILD_CORES:-1}"
if [ "$NIX_BUILD_CORES" -le 0 ] 2>/dev/null; then NIX_BUILD_CORES=1; fi

######################################################################
# Hooks

# runHook NAME ARGS...: runs the hook variable/function NAME (e.g. preBuild,
# a string to eval or a function) plus every function in the array NAMEHooks.
runHook() {
    local hookName="$1"
    shift
    local hooksSlice="${hookName%Hook}Hooks[@]"
    local hook
    for hook in "_callImplicitHook 0 $hookName" ${!hooksSlice+"${!hooksSlice}"}; do
        _eval "$hook" "$@"
    done
    return 0
}

# Like runHook, but stops at the first hook that succeeds.
runOneHook() {
    local hookName="$1"
    shift
    local hooksSlice="${hookName%Hook}Hooks[@]"
    local hook ret=1
    for hook in "_callImplicitHook 1 $hookName" ${!hooksSlice+"${!hooksSlice}"}; do
        if _eval "$hook" "$@"; then
            ret=0
            break
        fi
    done
    return "$ret"
}

# Runs the function or evals the string named by $2, or returns $1 if it is unset.
_callImplicitHook() {
    local def="$1"
    local hookName="$2"
    if declare -F "$hookName" >/dev/null; then
        "$hookName"
    elif type -p "$hookName" >/dev/null; then
        source "$hookName"
    elif [ -n "${!hookName:-}" ]; then
        eval "${!hookName}"
    else
        return "$def"
    fi
}

# Evaluates a hook: a function name (called with the arguments) or a string.
_eval() {
    if declare -F "$1" >/dev/null 2>&1; then
        "$@"
    else
        eval "$1"
    fi
}

addEnvHooks() {
    local depHostOffset="$1"
    shift
    envHooks+=("$@")
}

######################################################################
# Helpers

echoCmd() {
    printf "%s:" "$1"
    shift
    printf ' %q' "$@"
    echo
}

# addToSearchPathWithCustomDelimiter DELIM VAR DIR: appends DIR to VAR if it exists.
addToSearchPathWithCustomDelimiter() {
    local delimiter="$1"
    local varName="$2"
    local dir="$3"
    if [[ -d "$dir" && "${!varName:+${delimiter}${!varName}${delimiter}}" != *"${delimiter}${dir}${delimiter}"* ]]; then
        export "${varName}=${!varName:+${!varName}${delimiter}}${dir}"
    fi
}

addToSearchPath() {
    addToSearchPathWithCustomDelimiter ":" "$@"
}

# stripHash /nix/store/<hash>-foo.tar.gz -> foo.tar.gz
stripHash() {
    local strippedName casematchOpt=0
    strippedName="$(basename -- "$1")"
    shopt -q nocasematch && casematchOpt=1
    shopt -u nocasematch
    if [[ "$strippedName" =~ ^[a-z0-9]{32}- ]]; then
        echo "${strippedName:33}"
    else
        echo "$strippedName"
    fi
    if ((casematchOpt)); then shopt -s nocasematch; fi
}

isELF() {
    local fn="$1" fd magic
    exec {fd}<"$fn"
    read -r -n 4 -u "$fd" magic || true
    exec {fd}<&-
    [ "$magic" = $'\177ELF' ]
}

isScript() {
    local fn="$1" fd magic
    exec {fd}<"$fn"
    read -r -n 2 -u "$fd" magic || true
    exec {fd}<&-
    [[ "$magic" =~ \#! ]]
}

# printWords: prints its arguments separated by spaces (no trailing newline).
printWords() {
    (($#)) && printf '%s ' "$@"
}

######################################################################
# Substitution (substitute, substituteInPlace, substituteAll)

substitute() {
    local input="$1"
    local output="$2"
    shift 2

    if [ ! -f "$input" ]; then
        echo "substitute(): ERROR: file '$input' does not exist" >&2
        return 1
    fi

    local content
    content="$(cat "$input"; printf x)"
    content="${content%x}"

    local -a args=("$@")
    local n p pattern replacement varName
    for ((n = 0; n < ${#args[*]}; n++)); do
        p="${args[$n]}"
        case "$p" in
            --replace | --replace-fail | --replace-warn | --replace-quiet)
                pattern="${args[$((n + 1))]}"
                replacement="${args[$((n + 2))]}"
                n=$((n + 2))
                if [[ "$content" != *"$pattern"* ]]; then
                    if [ "$p" = --replace-fail ]; then
                        echo "substitute(): ERROR: pattern '$pattern' doesn't match anything in file '$input'" >&2
                        return 1
                    elif [ "$p" = --replace-warn ]; then
                        echo "substitute(): WARNING: pattern '$pattern' doesn't match anything in file '$input'" >&2
                    fi
                fi
                content="${content//"$pattern"/$replacement}"
                ;;
            --subst-var)
                varName="${args[$((n + 1))]}"
                n=$((n + 1))
                if ! [[ "$varName" =~ ^[a-zA-Z_][a-zA-Z0-9_]*$ ]]; then
                    echo "substitute(): ERROR: substitution variables must be valid Bash names, \"$varName\" isn't." >&2
                    return 1
                fi
                if [ -z "${!varName+x}" ]; then
                    echo "substitute(): ERROR: variable \$$varName is unset" >&2
                    return 1
                fi
                pattern="@$varName@"
                replacement="${!varName}"
                content="${content//"$pattern"/$replacement}"
                ;;
            --subst-var-by)
                pattern="@${args[$((n + 1))]}@"
                replacement="${args[$((n + 2))]}"
                n=$((n + 2))
                content="${content//"$pattern"/$replacement}"
                ;;
            *)
                echo "substitute(): ERROR: Invalid command line argument: $p" >&2
                return 1
                ;;
        esac
    done

    if [ -e "$output" ]; then chmod +w "$output"; fi
    printf "%s" "$content" >"$output"
}

substituteInPlace() {
    local -a fileNames=()
    local arg
    for arg in "$@"; do
        if [[ "$arg" = "--"* ]]; then
            break
        fi
        fileNames+=("$arg")
        shift
    done
    if [ ${#fileNames[@]} -eq 0 ]; then
        echo "substituteInPlace called without any files to operate on (files must come before options!)" >&2
        return 1
    fi
    local file
    for file in "${fileNames[@]}"; do
        substitute "$file" "$file" "$@"
    done
}

# Replaces every @name@ whose environment variable `name` (lower case start) is set.
substituteAll() {
    local input="$1"
    local output="$2"
    local -a args=()
    local varName
    for varName in $(compgen -e); do
        if [[ "$varName" =~ ^[a-z][a-zA-Z0-9_]*$ ]]; then
            args+=("--subst-var" "$varName")
        fi
    done
    substitute "$input" "$output" "${args[@]}"
}

substituteAllInPlace() {
    local fileName="$1"
    shift
    substituteAll "$fileName" "$fileName" "$@"
}

######################################################################
# patchShebangs: rewrites `#!/bin/sh`, `#!/usr/bin/env python3`, ... to the
# program of that name found on PATH (HOST_PATH for --host).

patchShebangs() {
    local pathName=PATH
    local update=""
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --host) pathName=HOST_PATH; shift ;;
            --build) pathName=PATH; shift ;;
            --update) update=true; shift ;;
            --) shift; break ;;
            -* | --*) echo "Unknown option $1 supplied to patchShebangs" >&2; return 1 ;;
            *) break ;;
        esac
    done

    echo "patching script interpreter paths in $*"
    local f oldPath newPath arg0 args oldInterpreterLine newInterpreterLine timestamp
    while IFS= read -r -d $'\0' f; do
        isScript "$f" || continue
        read -r oldInterpreterLine <"$f" || [ -n "$oldInterpreterLine" ] || continue
        read -r oldPath arg0 args <<<"${oldInterpreterLine:2}"
        if [[ -z "${pathName:-}" ]]; then pathName=PATH; fi

        if [[ "$oldPath" == *"/bin/env" ]]; then
            if [[ $arg0 == "-S" ]]; then
                arg0=${args%% *}
                [[ "$args" == *" "* ]] && args=${args#* } || args=
                newPath="$(PATH="${!pathName}" type -P "env" || true)"
                args="-S $(PATH="${!pathName}" type -P "$arg0" || true) $args"
            elif [[ $arg0 == "-"* || $arg0 == *"="* ]]; then
                echo "$f: unsupported interpreter directive \"$oldInterpreterLine\" (set dontPatchShebangs=1 and handle shebang patching yourself)" >&2
                return 1
            else
                newPath="$(PATH="${!pathName}" type -P "$arg0" || true)"
            fi
        else
            if [[ -z $oldPath ]]; then
                oldPath="/bin/sh"
            fi
            newPath="$(PATH="${!pathName}" type -P "$(basename "$oldPath")" || true)"
            args="$arg0 $args"
        fi

        newInterpreterLine="$newPath $args"
        newInterpreterLine=${newInterpreterLine%${newInterpreterLine##*[![:space:]]}}

        if [[ -n "$oldPath" && ( "$update" == true || "${oldPath:0:${#NIX_STORE}}" != "$NIX_STORE" ) ]]; then
            if [[ -n "$newPath" && "$newPath" != "$oldPath" ]]; then
                echo "$f: interpreter directive changed from \"$oldInterpreterLine\" to \"$newInterpreterLine\""
                escapedInterpreterLine=${newInterpreterLine//\\/\\\\}
                timestamp=$(stat --printf "%y" "$f")
                sed -i -e "1 s|.*|#\!$escapedInterpreterLine|" "$f"
                touch --date "$timestamp" "$f"
            fi
        fi
    done < <(find "$@" -type f -perm -0100 -print0)
}

######################################################################
# Inputs: PATH and setup hooks from (native)buildInputs and what they propagate

declare -a pkgs=()
declare -a envHooks=()

findInputs() {
    local pkg="$1"
    local p
    for p in "${pkgs[@]}"; do
        if [ "$p" = "$pkg" ]; then return 0; fi
    done
    pkgs+=("$pkg")
    if [ -f "$pkg/nix-support/propagated-build-inputs" ]; then
        local dep
        for dep in $(cat "$pkg/nix-support/propagated-build-inputs"); do
            findInputs "$dep"
        done
    fi
    if [ -f "$pkg/nix-support/propagated-native-build-inputs" ]; then
        local dep
        for dep in $(cat "$pkg/nix-support/propagated-native-build-inputs"); do
            findInputs "$dep"
        done
    fi
}

activatePackage() {
    local pkg="$1"
    if [ -f "$pkg" ]; then
        # A plain file given as input is a setup hook.
        source "$pkg"
        return 0
    fi
    if [ -d "$pkg/bin" ]; then
        addToSearchPath PATH "$pkg/bin"
        addToSearchPath HOST_PATH "$pkg/bin"
    fi
    if [ -f "$pkg/nix-support/setup-hook" ]; then
        source "$pkg/nix-support/setup-hook"
    fi
    local hook
    for hook in ${envHooks[@]+"${envHooks[@]}"}; do
        "$hook" "$pkg"
    done
}

# The initial PATH: the stdenv's basic tools.
PATH_DELIMITER=':'
_initialPATH=""
for i in ${initialPath:-}; do
    if [ "$i" = / ]; then i=; fi
    _initialPATH="${_initialPATH}${_initialPATH:+:}$i/bin"
done
export PATH="$_initialPATH"
unset _initialPATH i

if [ -z "${SHELL:-}" ]; then echo "SHELL not set" >&2; exit 1; fi
NIX_STORE="${NIX_STORE:-/nix/store}"
export NIX_STORE

for i in ${defaultNativeBuildInputs:-} ${nativeBuildInputs:-} ${buildInputs:-} ${propagatedNativeBuildInputs:-} ${propagatedBuildInputs:-}; do
    findInputs "$i"
done
for i in ${pkgs[@]+"${pkgs[@]}"}; do
    activatePackage "$i"
done
unset i
export HOST_PATH="${HOST_PATH:-}"

# Writable temporary directory and a HOME that does not exist (as Nix does).
export TZ=UTC
: "${HOME:=/homeless-shelter}"
export HOME
if [ -n "${NIX_BUILD_TOP:-}" ]; then
    export TMPDIR="${TMPDIR:-$NIX_BUILD_TOP}"
fi

# Every output gets a variable ($out, $dev, ...); `prefix` is the first one.
_firstOutput="${outputs%% *}"
: "${prefix:=${!_firstOutput}}"
unset _firstOutput
for o in $outputs; do
    if [ -z "${!o:-}" ]; then
        echo "error: output '$o' has no path in the environment" >&2
        exit 1
    fi
done
unset o

######################################################################
# Phases

unpackCmdHooks+=(_defaultUnpack)

_defaultUnpack() {
    local fn="$1"
    local destination
    if [ -d "$fn" ]; then
        destination="$(stripHash "$fn")"
        if [ -e "$destination" ]; then
            echo "Cannot copy $fn to $destination: destination already exists!" >&2
            echo "Did you specify two \"srcs\" with the same \"name\"?" >&2
            return 1
        fi
        # Copy the directory; keep the file modes, drop the store's timestamps.
        cp -pr --reflink=auto -- "$fn" "$destination"
    else
        case "$fn" in
            *.tar.xz | *.tar.lzma | *.txz)
                xz -d <"$fn" | tar xf - --warning=no-timestamp
                ;;
            *.tar | *.tar.* | *.tgz | *.tbz2 | *.tbz)
                tar xf "$fn" --warning=no-timestamp
                ;;
            *)
                return 1
                ;;
        esac
    fi
}

unpackFile() {
    curSrc="$1"
    echo "unpacking source archive $curSrc"
    if ! runOneHook unpackCmd "$curSrc"; then
        echo "do not know how to unpack source archive $curSrc" >&2
        exit 1
    fi
}

unpackPhase() {
    runHook preUnpack

    if [ -z "${srcs:-}" ]; then
        if [ -z "${src:-}" ]; then
            echo 'variable $src or $srcs should point to the source' >&2
            exit 1
        fi
        srcs="$src"
    fi

    local -a srcsArray
    read -r -a srcsArray <<<"$srcs"

    # Remember the directories that existed before unpacking, to find the new one.
    local dirsBefore=""
    for i in *; do
        if [ -d "$i" ]; then
            dirsBefore="$dirsBefore $i "
        fi
    done

    for i in "${srcsArray[@]}"; do
        unpackFile "$i"
    done

    : "${sourceRoot=}"
    if [ -n "${setSourceRoot:-}" ]; then
        runOneHook setSourceRoot
    elif [ -z "$sourceRoot" ]; then
        for i in *; do
            if [ -d "$i" ]; then
                case $dirsBefore in
                    *\ $i\ *) ;;
                    *)
                        if [ -n "$sourceRoot" ]; then
                            echo "unpacker produced multiple directories" >&2
                            exit 1
                        fi
                        sourceRoot="$i"
                        ;;
                esac
            fi
        done
    fi

    if [ -z "$sourceRoot" ]; then
        echo "unpacker appears to have produced no directories" >&2
        exit 1
    fi

    echo "source root is $sourceRoot"

    # Sources copied from the store are read-only; make them writable.
    if [ "${dontMakeSourcesWritable:-0}" != 1 ]; then
        chmod -R u+w -- "$sourceRoot"
    fi

    runHook postUnpack
}

patchPhase() {
    runHook prePatch

    local -a patchesArray
    read -r -a patchesArray <<<"${patches:-}"
    local -a flagsArray
    read -r -a flagsArray <<<"${patchFlags:--p1}"

    for i in ${patchesArray[@]+"${patchesArray[@]}"}; do
        echo "applying patch $i"
        local uncompress=cat
        case "$i" in
            *.gz) uncompress="gzip -d" ;;
            *.xz | *.lzma) uncompress="xz -d" ;;
        esac
        # shellcheck disable=SC2086
        $uncompress <"$i" 2>&1 | patch "${flagsArray[@]}"
    done

    runHook postPatch
}

_hasMake() {
    type -P make >/dev/null 2>&1
}

_hasMakefile() {
    [ -n "${makefile:-}" ] || [ -e Makefile ] || [ -e makefile ] || [ -e GNUmakefile ]
}

configurePhase() {
    runHook preConfigure

    : "${configureScript=}"
    if [[ -z "$configureScript" && -x ./configure ]]; then
        configureScript=./configure
    fi

    if [ -n "$configureScript" ]; then
        local -a flagsArray=()
        if [ "${dontAddPrefix:-}" != 1 ]; then
            flagsArray+=("${prefixKey:---prefix=}$prefix")
        fi
        local -a extra
        read -r -a extra <<<"${configureFlags:-}"
        flagsArray+=(${extra[@]+"${extra[@]}"})
        echoCmd 'configure flags' "${flagsArray[@]}"
        # shellcheck disable=SC2086
        $configureScript "${flagsArray[@]}"
    else
        echo "no configure script, doing nothing"
    fi

    runHook postConfigure
}

_runMake() {
    if ! _hasMake; then
        echo "error: this package set has no 'make'; set the phase yourself (e.g. buildPhase = \"...\")" >&2
        return 1
    fi
    local -a flagsArray=()
    read -r -a flagsArray <<<"${makeFlags:-}"
    local -a buildFlags
    read -r -a buildFlags <<<"${1:-}"
    shift || true
    # shellcheck disable=SC2086
    make ${makefile:+-f $makefile} ${enableParallelBuilding:+-j${NIX_BUILD_CORES}} \
        SHELL="$SHELL" ${flagsArray[@]+"${flagsArray[@]}"} ${buildFlags[@]+"${buildFlags[@]}"} "$@"
}

buildPhase() {
    runHook preBuild

    if [[ -z "${makeFlags-}" ]] && ! _hasMakefile; then
        echo "no Makefile or custom buildPhase, doing nothing"
    else
        _runMake "${buildFlags:-}"
    fi

    runHook postBuild
}

checkPhase() {
    runHook preCheck

    if [[ -z "${checkTarget:-}" ]] && _hasMakefile && _hasMake; then
        if make -n ${makefile:+-f $makefile} check >/dev/null 2>&1; then
            checkTarget=check
        elif make -n ${makefile:+-f $makefile} test >/dev/null 2>&1; then
            checkTarget=test
        fi
    fi

    if [[ -z "${checkTarget:-}" ]]; then
        echo "no check/test target in ${makefile:-Makefile}, doing nothing"
    else
        _runMake "${checkFlags:-VERBOSE=y}" ${checkTarget}
    fi

    runHook postCheck
}

installPhase() {
    runHook preInstall

    if [ -n "$prefix" ]; then
        mkdir -p "$prefix"
    fi
    _runMake "${installFlags:-}" ${installTargets:-install}

    runHook postInstall
}

# Moves a directory (e.g. share/man) from one output to another.
moveToOutput() {
    local patt="$1"
    local dstOut="$2"
    local output
    for output in $outputs; do
        if [ "${!output}" = "$dstOut" ]; then continue; fi
        local srcPath
        for srcPath in "${!output}"/$patt; do
            if [ ! -e "$srcPath" ] && [ ! -L "$srcPath" ]; then continue; fi
            if [ "$dstOut" = REMOVE ]; then
                echo "Removing $srcPath"
                rm -r "$srcPath"
            else
                local dstPath="$dstOut${srcPath#${!output}}"
                echo "Moving $srcPath to $dstPath"
                mkdir -p "$(dirname "$dstPath")"
                mv "$srcPath" "$dstPath"
            fi
        done
    done
}

fixupPhase() {
    # Make the outputs writable (a phase may have copied read-only store files).
    local output
    for output in $outputs; do
        if [ -e "${!output}" ]; then chmod -R u+w "${!output}"; fi
    done

    runHook preFixup

    for output in $outputs; do
        prefix="${!output}" runHook fixupOutput
        if [ -e "${!output}" ] && [ -z "${dontPatchShebangs:-}" ]; then
            if type -P find >/dev/null && type -P sed >/dev/null; then
                patchShebangs --build "${!output}"
            else
                echo "patchShebangs skipped: this stdenv has no find/sed (findutils/sed are not in the lock)"
            fi
        fi
    done

    # Record what dependents must have too (nixpkgs' nix-support files).
    local firstOutput="${outputs%% *}"
    local propagatedOut="${!firstOutput}"
    if [ -n "${propagatedBuildInputs:-}" ]; then
        mkdir -p "$propagatedOut/nix-support"
        printWords $propagatedBuildInputs >"$propagatedOut/nix-support/propagated-build-inputs"
    fi
    if [ -n "${propagatedNativeBuildInputs:-}" ]; then
        mkdir -p "$propagatedOut/nix-support"
        printWords $propagatedNativeBuildInputs >"$propagatedOut/nix-support/propagated-native-build-inputs"
    fi
    if [ -n "${setupHook:-}" ]; then
        mkdir -p "$propagatedOut/nix-support"
        substituteAll "$setupHook" "$propagatedOut/nix-support/setup-hook"
    fi

    runHook postFixup
}

installCheckPhase() {
    runHook preInstallCheck

    if [[ -z "${installCheckTarget:-}" ]] && _hasMakefile && _hasMake && make -n ${makefile:+-f $makefile} installcheck >/dev/null 2>&1; then
        installCheckTarget=installcheck
    fi
    if [[ -z "${installCheckTarget:-}" ]]; then
        echo "no installcheck target in ${makefile:-Makefile}, doing nothing"
    else
        _runMake "${installCheckFlags:-}" ${installCheckTarget}
    fi

    runHook postInstallCheck
}

distPhase() {
    runHook preDist

    _runMake "${distFlags:-}" ${distTarget:-dist}
    if [ "${dontCopyDist:-0}" != 1 ]; then
        mkdir -p "$out/tarballs"
        cp -pvd ${tarballs:-*.tar.gz} "$out/tarballs"
    fi

    runHook postDist
}

showPhaseHeader() {
    local phase="$1"
    echo "Running phase: $phase"
}

showPhaseFooter() {
    return 0
}

# Decides whether a phase runs (the dont*/do* switches of nixpkgs).
_phaseEnabled() {
    case "$1" in
        unpackPhase) [ -z "${dontUnpack:-}" ] ;;
        patchPhase) [ -z "${dontPatch:-}" ] ;;
        configurePhase) [ -z "${dontConfigure:-}" ] ;;
        buildPhase) [ -z "${dontBuild:-}" ] ;;
        checkPhase) [ -n "${doCheck:-}" ] ;;
        installPhase) [ -z "${dontInstall:-}" ] ;;
        fixupPhase) [ -z "${dontFixup:-}" ] ;;
        installCheckPhase) [ -n "${doInstallCheck:-}" ] ;;
        distPhase) [ -n "${doDist:-}" ] ;;
        *) return 0 ;;
    esac
}

genericBuild() {
    export GZIP_NO_TIMESTAMPS=1

    if [ -f "${buildCommandPath:-}" ]; then
        source "$buildCommandPath"
        return
    fi
    if [ -n "${buildCommand:-}" ]; then
        eval "$buildCommand"
        return
    fi

    if [ -z "${phases[*]:-}" ]; then
        phases="${prePhases[*]:-} unpackPhase patchPhase ${preConfigurePhases[*]:-} \
            configurePhase ${preBuildPhases[*]:-} buildPhase checkPhase \
            ${preInstallPhases[*]:-} installPhase ${preFixupPhases[*]:-} fixupPhase installCheckPhase \
            ${preDistPhases[*]:-} distPhase ${postPhases[*]:-}"
    fi

    local phase
    # shellcheck disable=SC2068
    for phase in ${phases[*]}; do
        _phaseEnabled "$phase" || continue

        showPhaseHeader "$phase"

        # A phase given as a non-empty string (e.g. installPhase = "...") replaces
        # the function of that name; an empty string keeps the default (as nixpkgs).
        eval "${!phase:-$phase}"

        showPhaseFooter "$phase"

        # After unpacking, continue in the source directory.
        if [ "$phase" = unpackPhase ]; then
            if [ -n "${sourceRoot:-}" ]; then
                chmod +x -- "${sourceRoot}"
            fi
            cd -- "${sourceRoot:-.}"
        fi
    done
}
