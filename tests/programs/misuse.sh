#!/bin/bash
# misuse.sh — runs each heap misuse of tests/programs/misuse.c in a child
# process against each allocator and prints what became of it, as a
# Markdown table (the one in README's Misuse section).
#
#   misuse.sh PROGRAM [--check]
#
# Allocators: ingot's lib/libingot.so in the default profile and with
# INGOT_CONF=profile:hardened, glibc (nothing preloaded), and Debian's
# jemalloc, mimalloc and tcmalloc, each preloaded; one that is not
# installed gets a column of "-".
#
# A cell says how the child ended:
#   stopped   killed by a signal or a failed exit, with a message on stderr
#   signal    killed by a signal, with no word on stderr
#   warned    a message on stderr, but the program ran on to its end
#   silent    the program ran to its end and nothing was said
#   n/a       the allocator lacks the function (sdallocx, sallocx)
# and "+harm" when the program saw the heap damaged (a block handed out
# twice, calloc memory not zero, malloc returning a forged address).
#
# --check fails unless ingot stops every kind listed in EXPECT_DEFAULT and
# EXPECT_HARDENED below, with the message of its kind (message_of below),
# and with no harm seen first; a kind listed as KIND:late may show harm (it
# is caught only when the cache gives the block back, after it was handed
# out).
set -u
prog=$1
check=${2:-}
root=$(cd "$(dirname "$0")/../.." && pwd)
sys=/usr/lib/x86_64-linux-gnu

# What each profile must stop with a message today; a kind leaves these
# lists only if the README says so.
EXPECT_COMMON="double-free-small double-free-interleaved double-free-late double-free-large
	double-free-huge free-misaligned-small free-interior-large free-foreign realloc-interior
	realloc-foreign usable-size-interior sallocx-interior"
EXPECT_DEFAULT="$EXPECT_COMMON free-interior-small:late sdallocx-interior:late"
EXPECT_HARDENED="$EXPECT_COMMON free-interior-small sdallocx-interior overflow-small underflow-small
	overflow-large underflow-large
	write-after-free-small write-after-free-large read-after-free-large calloc-after-corruption
	forged-link"

# The start of the message each kind must stop with (an extended regular
# expression after "ingot: "), in profile $2 (ingot or hardened).
message_of() { # kind, column
	case $1 in
	double-free-*) echo "double free of" ;;
	free-foreign | realloc-foreign) echo "foreign pointer" ;;
	*-interior* | free-misaligned-small) echo "invalid pointer .* in " ;;
	overflow-small) echo "heap overflow \\(canary overwritten\\)" ;;
	underflow-small) echo "heap underflow \\(the canary before it overwritten\\)" ;;
	overflow-large) echo "heap overflow: access to .* on a guard page" ;;
	underflow-large) echo "heap underflow: access to .* on a guard page" ;;
	read-after-free-large) echo "use after free: access to .* in freed pages" ;;
	write-after-free-* | calloc-after-corruption | forged-link) echo "write after free in block" ;;
	*) echo "unknown kind $1" ;;
	esac
}

columns=(ingot hardened glibc jemalloc mimalloc tcmalloc)
declare -A title=([ingot]="ingot" [hardened]="ingot hardened" [glibc]="glibc"
	[jemalloc]="jemalloc" [mimalloc]="mimalloc" [tcmalloc]="tcmalloc")
declare -A preload=([ingot]=$root/lib/libingot.so [hardened]=$root/lib/libingot.so
	[glibc]="" [jemalloc]=$sys/libjemalloc.so.2 [mimalloc]=$sys/libmimalloc.so.2
	[tcmalloc]=$sys/libtcmalloc.so.4)

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# Runs kind under column's allocator; prints the cell. Leaves the child's
# stderr in $scratch/err.
run_one() { # column, kind
	local col=$1 kind=$2 lib=${preload[$1]} rc
	if [[ -n $lib && ! -e $lib ]]; then
		echo "-"
		return
	fi
	local conf=""
	[[ $col == hardened ]] && conf=profile:hardened
	# No core files: a hundred aborts would fill the disk.
	# The outer redirection drops bash's own "Aborted" notice.
	(ulimit -c 0; INGOT_CONF=$conf LD_PRELOAD=$lib timeout 60 "$prog" "$kind" \
		>"$scratch/out" 2>"$scratch/err") 2>/dev/null
	rc=$?
	local cell
	if grep -q '^n/a' "$scratch/out"; then
		echo "n/a"
		return
	fi
	if ((rc == 124)); then
		cell="hang"
	elif ((rc != 0)) && [[ -s $scratch/err ]]; then
		cell="stopped"
	elif ((rc > 128)); then
		cell="signal"
	elif ((rc != 0)); then
		cell="exit $rc"
	elif [[ -s $scratch/err ]]; then
		cell="warned"
	else
		cell="silent"
	fi
	grep -q '^harm' "$scratch/out" && cell="$cell+harm"
	echo "$cell"
}

failures=()
declare -A stopped
for col in "${columns[@]}"; do stopped[$col]=0; done

header="| misuse |"
rule="|---|"
for col in "${columns[@]}"; do
	header+=" ${title[$col]} |"
	rule+="---|"
done
echo "$header"
echo "$rule"
mapfile -t kinds < <("$prog" --list)
for kind in "${kinds[@]}"; do
	row="| $kind |"
	for col in "${columns[@]}"; do
		cell=$(run_one "$col" "$kind")
		row+=" $cell |"
		[[ $cell == stopped* ]] && stopped[$col]=$((stopped[$col] + 1))
		case $col in
		ingot) expect=$EXPECT_DEFAULT ;;
		hardened) expect=$EXPECT_HARDENED ;;
		*) continue ;;
		esac
		allowed=""
		if [[ " $(echo $expect) " == *" $kind "* ]]; then
			allowed=stopped
		elif [[ " $(echo $expect) " == *" $kind:late "* ]]; then
			allowed="stopped stopped+harm"
		fi
		if [[ -n $allowed ]]; then
			if [[ " $allowed " != *" $cell "* ]] ||
				! grep -Eq "^ingot: $(message_of "$kind" "$col")" "$scratch/err"; then
				failures+=("$col $kind: $cell, stderr: $(head -c 200 "$scratch/err")")
			fi
		fi
	done
	echo "$row"
done
row="| **stopped with a message** |"
for col in "${columns[@]}"; do row+=" **${stopped[$col]} of ${#kinds[@]}** |"; done
echo "$row"

if [[ $check == --check ]]; then
	if ((${#failures[@]})); then
		echo "misuse.sh: FAIL (${#failures[@]}):"
		printf '  %s\n' "${failures[@]}"
		exit 1
	fi
	echo "misuse.sh: PASS (ingot stops every kind expected of its profiles)"
fi
