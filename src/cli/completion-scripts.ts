/**
 * The shell completion scripts `rustless completion SHELL` prints. Each asks the command itself
 * (`rustless __complete WORDS...`, see complete-words.ts) what fits the word under the cursor,
 * so commands, flags and app names stay in one place; a first line `:paths` means "complete a
 * file name" and hands over to the shell's own file completion.
 */

const BASH = `# rustless completion for bash. Load it with
#   source <(rustless completion bash)
# in ~/.bashrc, or save it as ~/.local/share/bash-completion/completions/rustless.
_rustless() {
  local IFS=$'\\n' line=\${COMP_LINE:0:COMP_POINT} reply
  local -a words
  # Split the line ourselves: COMP_WORDS would cut ssh://pi@host at each ':'.
  IFS=$' \\t' read -ra words <<< "$line"
  [[ $line == *[[:space:]] ]] && words+=('')
  reply=$("\${words[0]}" __complete "\${words[@]:1}" 2>/dev/null)
  if [[ $reply == ':paths' ]]; then
    compopt -o default
    COMPREPLY=()
  else
    COMPREPLY=($reply)
  fi
}
complete -F _rustless rustless
`;

const ZSH = `#compdef rustless
# rustless completion for zsh. Load it with
#   source <(rustless completion zsh)
# in ~/.zshrc after compinit, or save it as _rustless in a directory of $fpath.
_rustless() {
  local -a reply
  reply=("\${(@f)$("\${words[1]}" __complete "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  if [[ \${reply[1]} == ':paths' ]]; then
    _files
  elif [[ -n \${reply[1]} ]]; then
    compadd -a reply
  fi
}
if [[ \${zsh_eval_context[-1]} == loadautofunc ]]; then
  _rustless "$@"
else
  compdef _rustless rustless
fi
`;

const FISH = `# rustless completion for fish. Save it with
#   rustless completion fish > ~/.config/fish/completions/rustless.fish
function __rustless_complete
    set -l words (commandline -opc)
    set -l reply ($words[1] __complete $words[2..-1] (commandline -ct) 2>/dev/null)
    if test "$reply[1]" = ':paths'
        __fish_complete_path (commandline -ct)
    else
        printf '%s\\n' $reply
    end
end
complete -c rustless -f -a '(__rustless_complete)'
`;

export const COMPLETION_SCRIPTS = { bash: BASH, zsh: ZSH, fish: FISH } as const;
