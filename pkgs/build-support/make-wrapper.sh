# makeWrapper / wrapProgram (nixpkgs' make-shell-wrapper hook, compact).
# makeWrapper EXECUTABLE OUT_PATH ARGS
#   --argv0 NAME           set argv[0]
#   --inherit-argv0        pass the wrapper's argv[0] on
#   --set VAR VAL          set VAR
#   --set-default VAR VAL  set VAR if unset
#   --unset VAR            unset VAR
#   --chdir DIR            cd before running
#   --run COMMAND          run COMMAND before running
#   --prefix ENV SEP VAL   prefix ENV with VAL, separated by SEP
#   --suffix ENV SEP VAL   suffix ENV with VAL, separated by SEP
#   --prefix-each ENV SEP VALS / --suffix-each ENV SEP VALS
#   --add-flags FLAGS      flags before the user's arguments
#   --append-flags FLAGS   flags after the user's arguments

assertExecutable() {
    local file="$1"
    [[ -f "$file" && -x "$file" ]] || {
        echo "makeWrapper: '$file' is not an executable file" >&2
        return 1
    }
}

makeShellWrapper() {
    local original="$1"
    local wrapper="$2"
    shift 2
    local params=("$@")
    local argv0 flagsBefore="" flagsAfter="" n p varName separator value

    assertExecutable "$original"

    mkdir -p "$(dirname "$wrapper")"
    echo "#! @shell@ -e" >"$wrapper"

    for ((n = 0; n < ${#params[*]}; n += 1)); do
        p="${params[$n]}"
        case "$p" in
            --set)
                varName="${params[$((n + 1))]}"
                value="${params[$((n + 2))]}"
                n=$((n + 2))
                echo "export $varName=${value@Q}" >>"$wrapper"
                ;;
            --set-default)
                varName="${params[$((n + 1))]}"
                value="${params[$((n + 2))]}"
                n=$((n + 2))
                echo "export $varName=\${$varName-${value@Q}}" >>"$wrapper"
                ;;
            --unset)
                varName="${params[$((n + 1))]}"
                n=$((n + 1))
                echo "unset $varName" >>"$wrapper"
                ;;
            --chdir)
                value="${params[$((n + 1))]}"
                n=$((n + 1))
                echo "cd ${value@Q}" >>"$wrapper"
                ;;
            --run)
                value="${params[$((n + 1))]}"
                n=$((n + 1))
                echo "$value" >>"$wrapper"
                ;;
            --prefix | --suffix)
                varName="${params[$((n + 1))]}"
                separator="${params[$((n + 2))]}"
                value="${params[$((n + 3))]}"
                n=$((n + 3))
                if [ "$p" = --prefix ]; then
                    echo "export $varName=${value@Q}\${$varName:+${separator@Q}}\$$varName" >>"$wrapper"
                else
                    echo "export $varName=\$$varName\${$varName:+${separator@Q}}${value@Q}" >>"$wrapper"
                fi
                ;;
            --prefix-each | --suffix-each)
                varName="${params[$((n + 1))]}"
                separator="${params[$((n + 2))]}"
                value="${params[$((n + 3))]}"
                n=$((n + 3))
                local v
                for v in $value; do
                    if [ "$p" = --prefix-each ]; then
                        echo "export $varName=${v@Q}\${$varName:+${separator@Q}}\$$varName" >>"$wrapper"
                    else
                        echo "export $varName=\$$varName\${$varName:+${separator@Q}}${v@Q}" >>"$wrapper"
                    fi
                done
                ;;
            --add-flags)
                flagsBefore="$flagsBefore ${params[$((n + 1))]}"
                n=$((n + 1))
                ;;
            --append-flags)
                flagsAfter="$flagsAfter ${params[$((n + 1))]}"
                n=$((n + 1))
                ;;
            --argv0)
                argv0="${params[$((n + 1))]}"
                n=$((n + 1))
                ;;
            --inherit-argv0)
                argv0='$0'
                ;;
            *)
                echo "makeWrapper: unknown option $p" >&2
                return 1
                ;;
        esac
    done

    if [ -n "${argv0:-}" ]; then
        echo "exec -a \"${argv0}\" ${original@Q}${flagsBefore} \"\$@\"${flagsAfter}" >>"$wrapper"
    else
        echo "exec ${original@Q}${flagsBefore} \"\$@\"${flagsAfter}" >>"$wrapper"
    fi
    chmod +x "$wrapper"
}

makeWrapper() {
    makeShellWrapper "$@"
}

# wrapProgram PROGRAM ARGS: moves PROGRAM to .PROGRAM-wrapped and puts a wrapper in its place.
wrapProgram() {
    local prog="$1"
    local hidden
    assertExecutable "$prog"
    hidden="$(dirname "$prog")/.$(basename "$prog")"-wrapped
    while [ -e "$hidden" ]; do
        hidden="${hidden}_"
    done
    mv "$prog" "$hidden"
    makeShellWrapper "$hidden" "$prog" --inherit-argv0 "${@:2}"
}

wrapProgramShell() {
    wrapProgram "$@"
}
