// Package vars holds the variables a build task sees and substitutes their
// values into task fields.
//
// # Layers and precedence
//
// Variables come in three layers, as in Bamboo: global variables, plan
// variables and runtime variables (written by an earlier task of the same
// job). When a name is defined in several layers, Runtime wins over Plan and
// Plan wins over Global. [Sources.Load] fills the layers from everywhere
// a build's variables come from (the broker, variables files, the job
// file, --var flags, $CREDBROKER_VARIABLES), the same way for every
// command.
//
// Below Global lies the CI's own layer ([Set.SetCI]): Bamboo hands its
// plan and global variables to script tasks as environment variables
// bamboo_NAME (dots as underscores, package cienv), so that
// ${bamboo.awsSecretKeyPassword} resolves from
// $bamboo_awsSecretKeyPassword with nothing copied into a file. The layer
// is read one name at a time, for the names a reference needs that no
// other layer defines; a value read is a variable from then on, secret
// by the naming rule below, masked like any other.
//
// # Names
//
// A variable name holds letters (A-Z, a-z), digits, '_', '.' and '-', at
// most 255 characters. Names are case-sensitive. A leading "bamboo." is not
// part of the name: it is stripped wherever a name is defined or referenced,
// so defining "bamboo.region" defines "region", and "${bamboo.region}" and
// "${region}" both read it. Only one prefix is stripped.
//
// # Secret variables
//
// A variable is secret when it is marked secret, or when its name contains
// "password", "secret", "passphrase", "sshKey" or "token" in any case
// (awsSessionTokenPassword, AWS_SECRET, myToken). The values of secret
// variables are masked in task output (see package mask) and never appear
// in an error message. Bamboo's own rule, which decides what Bamboo masks
// and encrypts, is documented as names holding "password", "secret" or
// "passphrase"; this rule holds those words and two more, so every
// variable Bamboo treats as secret is secret here too.
//
// # Substitution
//
// [Set.Expand] replaces "${NAME}" and "${bamboo.NAME}" with the value of
// NAME. "$${" writes a literal "${", and a '$' not followed by '{' stays as
// it is. A reference to an undefined variable is an error, never an empty
// string. An unterminated "${", an empty "${}" or a name with a character
// that names may not hold is an error that gives the position in the text.
//
// Substitution is not recursive: a value that itself contains "${...}" is
// inserted as it is, and its references are not expanded. So a value can
// never pull in another variable's value by surprise.
//
// # Variables files
//
// The file given to --vars, and the runtime-variables file that a task
// writes to (its path is in $CREDBROKER_VARIABLES), hold one variable per
// line:
//
//	# a comment
//	region=eu-west-1
//	export deployConnector=deploy-prod
//	secret dbPassword=s3cr3t=with=equals
//	secret export apiKey=abc123
//
// The rules:
//
//   - Each line is NAME=VALUE. VALUE is everything after the first '=',
//     taken literally: no quotes are removed, no escapes processed, no
//     spaces trimmed. Only a trailing carriage return is dropped, so files
//     written on Windows work.
//   - No space is allowed between NAME and '='.
//   - A line "secret NAME=VALUE" marks the variable secret.
//   - An optional "export " before NAME is accepted and ignored, so the file
//     can also be sourced by a shell when its values need no quoting.
//     Both keywords may appear, in the order "secret export NAME=VALUE".
//   - Blank lines, and lines whose first non-blank character is '#', are
//     ignored. Leading spaces and tabs before a line are ignored.
//   - A name defined twice takes the value of its later line; the variable
//     stays secret if any of its lines marks it secret.
//   - A value is at most 1 MiB, and a file at most 16 MiB.
//
// An error in a file names the file and the line ("vars.env:7") and says
// what is wrong, but never repeats the line's content, which may hold a
// secret.
//
// A --var flag takes one NAME=VALUE with the same rules (including an
// optional "secret " prefix); its value may hold any character.
package vars
