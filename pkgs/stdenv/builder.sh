# Builds the stdenv store path: $out/setup = initial PATH + the generic setup script.
PATH=
for p in $initialPath; do
    PATH="${PATH}${PATH:+:}$p/bin"
done
export PATH
mkdir -p "$out"
{
    echo "# rnix-pkgs stdenv setup"
    echo "initialPath=\"$initialPath\""
    echo "defaultShell=\"$shell\""
    echo "defaultNativeBuildInputs=\"${defaultNativeBuildInputs:-}\""
    cat "$setup"
} > "$out/setup"
