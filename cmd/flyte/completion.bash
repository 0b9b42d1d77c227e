# bash completion for flyte. Load it with:  source <(flyte completion bash)
#
# flyte itself finds the candidates ("flyte __complete WORD... CURRENT"); this function only passes
# the words and reads the answer, one candidate a line, never evaluating it.
_flyte() {
    local -a words=()
    local i w joined=0
    # bash splits "--type=value" at "=": join the pieces again, as flyte reads them.
    for ((i = 1; i <= COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if [[ $w == "=" && ${#words[@]} -gt 0 && ${words[${#words[@]}-1]} == -* ]]; then
            words[${#words[@]}-1]+="="
            joined=1
        elif ((joined)); then
            words[${#words[@]}-1]+=$w
            joined=0
        else
            words+=("$w")
        fi
    done
    local cur=${words[${#words[@]}-1]}
    local out line directive=none flyte=${COMP_WORDS[0]}
    [[ $flyte == "~/"* ]] && flyte=$HOME/${flyte#"~/"}
    out=$("$flyte" __complete "${words[@]}" 2>/dev/null) || return 0
    COMPREPLY=()
    while IFS= read -r line; do
        case $line in
        :*) directive=${line#:} ;;
        ?*)
            line=${line%%$'\t'*}
            # bash replaces only what follows the "=" of --flag=value.
            [[ $cur == -*=* ]] && line=${line#*=}
            COMPREPLY+=("$line")
            ;;
        esac
    done <<<"$out"
    [[ $cur == -*=* ]] && cur=${cur#*=}
    # No mapfile or compopt in bash 3.2, macOS's own bash.
    case $directive in
    files)
        compopt -o filenames 2>/dev/null
        while IFS= read -r line; do COMPREPLY+=("$line"); done < <(compgen -f -- "$cur")
        ;;
    commands)
        while IFS= read -r line; do COMPREPLY+=("$line"); done < <(compgen -c -- "$cur")
        ;;
    esac
    return 0
}
complete -F _flyte flyte
