# Derivations built by both real Nix 2.8 (`--option sandbox false`) and rnix; see
# record.sh, which writes golden.json and the .drv files next to this file.
let
  sh = "/bin/sh";
  mk = name: script: attrs: derivation ({
    inherit name;
    system = "x86_64-linux";
    builder = sh;
    args = [ "-c" script ];
  } // attrs);
  hello = mk "hello" "echo hello > $out" { };
  exe = mk "exe" "printf '#!/bin/sh\\necho hi\\n' > $out && /bin/chmod +x $out" { };
  tree = mk "tree" ''
    /bin/mkdir -p $out/a/b/c $out/empty
    echo one > $out/a/one
    printf 'two\n2\n' > $out/a/b/two
    echo three > $out/a/b/c/three
    /bin/chmod 755 $out/a/one
  '' { };
  symlinkOut = mk "symlink-out" "/bin/ln -s /nix/store/dangling-target $out" { };
  withLinks = mk "with-links" ''
    /bin/mkdir $out
    echo target > $out/file
    /bin/ln -s file $out/rel
    /bin/ln -s /etc/hostname $out/abs
    /bin/mkdir $out/d && /bin/ln -s ../file $out/d/up
  '' { };
  multi = mk "multi" ''
    /bin/mkdir -p $out/bin $dev/include $lib/lib
    echo "lib is $lib" > $dev/include/h.h
    echo libcontent > $lib/lib/libx
    echo "dev at $dev" > $out/bin/prog
  '' { outputs = [ "out" "dev" "lib" ]; };
  dep1 = mk "dep1" "echo dep1 > $out" { };
  dep2 = mk "dep2" "read x < ${dep1}; echo \"dep2 uses $x from ${dep1}\" > $out" { };
  dep3 = mk "dep3" ''
    /bin/mkdir $out
    /bin/cat ${dep2} > $out/copied
    echo ${dep2} > $out/ref
  '' { };
  noRef = mk "no-ref" "/bin/cat ${dep1} > $out" { };
  selfRef = mk "self-ref" "/bin/mkdir $out && echo $out > $out/me" { };
  useMulti = mk "use-multi" "echo ${multi.dev} ${multi.lib} > $out" { };
  useMultiOut = mk "use-multi-out" "echo ${multi} > $out" { };
  foFlat = mk "fo-flat" "printf 'fixed content\\n' > $out" {
    outputHashMode = "flat"; outputHashAlgo = "sha256";
    outputHash = "0rcnqrrdvppl92i39a6njnzq1icsqcqc9ffsy080qg40w8d7kkxd";
  };
  foRec = mk "fo-rec" "/bin/mkdir $out && echo a > $out/a && echo b > $out/b" {
    outputHashMode = "recursive"; outputHashAlgo = "sha256";
    outputHash = "1acsqxaxawxn8xn9cw2n8z1l1dlj1ifhw6bghzv0ma9bfgazyxyi";
  };
  foSha1 = mk "fo-sha1" "printf 'fixed content\\n' > $out" {
    outputHashMode = "flat"; outputHashAlgo = "sha1";
    outputHash = "iijzfqac5jjir4ybyf2lh33s7b1kc7rs";
  };
  foSha512 = mk "fo-sha512" "printf 'fixed content\\n' > $out" {
    outputHashMode = "flat"; outputHashAlgo = "sha512";
    outputHash = "2gyc73mnzyw0l75mzjpny49spvhv9y3dfzqifjymn0574ni7pigyzihzkfaq9dnlk26av15x65rxfawwz7ys3gyfczc4cygx8flr5fk";
  };
  useFo = mk "use-fo" "/bin/cat ${foFlat} ${foRec}/a > $out; echo ${foRec} >> $out" { };
  passFile = mk "pass-file" "/bin/cat $bigPath > $out; echo \"$plain\" >> $out" {
    passAsFile = [ "big" ];
    big = "this text was passed as a file\nline 2";
    plain = "a plain attribute";
  };
  envDump = mk "env-dump" ''
    {
      echo "out=$out"; echo "HOME=$HOME"; echo "PATH=$PATH"; echo "NIX_STORE=$NIX_STORE"
      echo "TERM=$TERM"; echo "NIX_LOG_FD=$NIX_LOG_FD"; echo "name=$name"; echo "system=$system"
      echo "builder=$builder"; echo "custom=$custom"; echo "list=$list"; echo "bool=$bool"; echo "n=$n"
      echo "null=[$nul]"; echo "TMPDIR-is-build-top=$([ "$TMPDIR" = "$NIX_BUILD_TOP" ] && echo yes)"
      echo "TEMP-is-build-top=$([ "$TEMP" = "$NIX_BUILD_TOP" ] && [ "$TMP" = "$NIX_BUILD_TOP" ] && [ "$TEMPDIR" = "$NIX_BUILD_TOP" ] && echo yes)"
      echo "cwd-is-build-top=$([ "$(pwd)" = "$NIX_BUILD_TOP" ] && echo yes)"
    } > $out
  '' { custom = "value with spaces"; list = [ "a" "b" 3 ]; bool = true; n = 42; nul = null; };
  big = mk "big" "/usr/bin/head -c 3000000 /dev/zero | /usr/bin/tr '\\0' x > $out" { };
  weird = mk "weird-names" ''
    /bin/mkdir -p "$out/with space" "$out/ünïcode"
    echo 1 > "$out/with space/file name"
    echo 2 > "$out/ünïcode/ä"
    : > $out/empty-file
  '' { };
  emptyDir = mk "empty-dir" "/bin/mkdir $out" { };
  deep = mk "deep" ''
    d=$out
    for i in 1 2 3 4 5 6 7 8 9 10 11 12; do d=$d/level$i; done
    /bin/mkdir -p $d && echo bottom > $d/file
  '' { };
  manyDeps = mk "many-deps" "echo ${hello} ${exe} ${tree} ${withLinks} > $out" { };
  src = builtins.path { path = ./source.txt; name = "source.txt"; };
  useSrc = mk "use-src" "/bin/cat ${src} > $out; echo ${src} >> $out" { };
  fetched = import <nix/fetchurl.nix> {
    url = "file://" + toString ./fetched.txt;
    sha256 = "0nrspp9qci8mln9hvkxfrlp3ar1l9zg9v9bfn6iph929gbqz59sm";
  };
  useFetched = mk "use-fetched" "/bin/cat ${fetched} > $out" { };
in {
  inherit hello exe tree symlinkOut withLinks multi dep1 dep2 dep3 noRef selfRef useMulti
    useMultiOut foFlat foRec foSha1 foSha512 useFo passFile envDump big weird emptyDir deep
    manyDeps useSrc fetched useFetched;
}
