# Issue 12: evaluating 50 packages of the package set (nixpkgs attribute names of
# pkgs/debian-names.nix), each forced down to its .drv (bench/run.sh debian section:
# --eval --strict, with rnix-instantiate and with Nix 2.8 reading a copy of the same set).
with import <nixpkgs> { };
map (p: p.drvPath) [
  hello nginx redis postgresql sqlite curl wget git jq ripgrep
  fd fzf htop tmux vim emacs-nox less tree unzip zip
  gnutar gzip xz zstd bzip2 coreutils findutils gnugrep gnused gawk
  nodejs ruby perl php go rustc lua memcached haproxy mariadb
  imagemagick ffmpeg graphviz pandoc openssh rsync socat strace zlib libffi
]
