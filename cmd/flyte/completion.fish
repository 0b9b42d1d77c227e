# fish completion for flyte. Load it with:  flyte completion fish | source
# or save it as ~/.config/fish/completions/flyte.fish.
#
# flyte itself finds the candidates ("flyte __complete WORD... CURRENT"); this function only passes
# the words and prints the answer, one candidate a line, never evaluating it.
function __flyte_complete
    set -l tokens (commandline -opc)
    set -l cur (commandline -ct)
    set -l directive none
    for line in ($tokens[1] __complete $tokens[2..-1] "$cur" 2>/dev/null)
        switch $line
            case ':*'
                set directive (string sub -s 2 -- $line)
            case '?*'
                printf '%s\n' $line
        end
    end
    switch $directive
        case files
            set -l pre (string match -r -- '^-[^=]*=' $cur); or set pre ''
            for p in (__fish_complete_path (string replace -r -- '^-[^=]*=' '' $cur))
                printf '%s\n' $pre$p
            end
        case commands
            __fish_complete_command
    end
end

complete -c flyte -f -a '(__flyte_complete)'
