"${{ outPath = "op"; }}"
