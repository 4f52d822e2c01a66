echo "tool ran in $(basename "$PWD")"
