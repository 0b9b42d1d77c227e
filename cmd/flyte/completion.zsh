#compdef flyte
# zsh completion for flyte. Load it with:  source <(flyte completion zsh)   (after compinit)
# or save it as _flyte in a directory of $fpath.
#
# flyte itself finds the candidates ("flyte __complete WORD... CURRENT"); this function only passes
# the words and reads the answer, one candidate a line, never evaluating it.
_flyte() {
    local -a lines described
    local line name desc directive=none cur=${words[CURRENT]}
    lines=("${(@f)$("${words[1]}" __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    for line in "${lines[@]}"; do
        case $line in
        :*) directive=${line#:} ;;
        ?*)
            name=${line%%$'\t'*}
            desc=
            [[ $line == *$'\t'* ]] && desc=${line#*$'\t'}
            described+=("${name//:/\\:}${desc:+:$desc}")
            ;;
        esac
    done
    case $directive in
    files)
        [[ $cur == -*=* ]] && compset -P '*='
        _files
        ;;
    commands)
        _command_names -e
        ;;
    *)
        (( ${#described} )) && _describe -t flyte flyte described
        ;;
    esac
}

if [[ $funcstack[1] == _flyte ]]; then
    _flyte "$@"
else
    compdef _flyte flyte
fi
