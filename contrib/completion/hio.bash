# bash completion for hio. Installed by meson into
# share/bash-completion/completions/hio (bash-completion loads it on first use).
# Commands and flags come from hio's own --help, so they never drift from the program.
_hio() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local cmd=${COMP_WORDS[1]:-} words
	COMPREPLY=()
	if [ "$COMP_CWORD" -eq 1 ]; then
		words=$("${COMP_WORDS[0]}" --help 2>/dev/null | awk '/^  [a-z]+( |$)/ { print $1 }' | sort -u)
		mapfile -t COMPREPLY < <(compgen -W "$words --help --version" -- "$cur")
		return 0
	fi
	# hio config COMMAND: the settings of one command.
	if [ "$cmd" = config ] && [ "$COMP_CWORD" -eq 2 ] && [[ $cur != -* ]]; then
		words=$("${COMP_WORDS[0]}" --help 2>/dev/null | awk '/^  [a-z]+( |$)/ { print $1 }' | sort -u)
		mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
		return 0
	fi
	case $prev in
	--state-dir | --mount | --from | --token-file)
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return 0
		;;
	--runtime)
		mapfile -t COMPREPLY < <(compgen -W "process docker slurm" -- "$cur")
		return 0
		;;
	--compress)
		mapfile -t COMPREPLY < <(compgen -W "auto on off" -- "$cur")
		return 0
		;;
	esac
	if [ "$cmd" = results ] && [ "$COMP_CWORD" -eq 2 ] && [[ $cur != -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "show get rm" -- "$cur")
		return 0
	fi
	if [ "$cmd" = pipeline ] && [ "$COMP_CWORD" -eq 2 ]; then
		mapfile -t COMPREPLY < <(compgen -W "set show list" -- "$cur")
		return 0
	fi
	if [[ $cur == -* ]]; then
		words=$("${COMP_WORDS[0]}" "$cmd" --help 2>/dev/null | grep -o -- '--[a-z][a-z0-9-]*' | sort -u)
		mapfile -t COMPREPLY < <(compgen -W "$words --help" -- "$cur")
		return 0
	fi
	mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}
complete -o filenames -F _hio hio
