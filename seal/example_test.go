package seal_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/seal"
)

func Example() {
	key, err := seal.GenerateKey()
	if err != nil {
		log.Fatal(err)
	}
	ring, err := seal.NewRing(map[int][]byte{1: key})
	if err != nil {
		log.Fatal(err)
	}
	ref := credbroker.SecretRef{Kind: "connector", ID: "deploy"}
	sealed, err := ring.Seal(ref, []byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"))
	if err != nil {
		log.Fatal(err)
	}
	plain, err := ring.Open(ref, sealed)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sealed.KeyVersion, len(sealed.Blob), string(plain))

	// The same blob on another record does not open.
	_, err = ring.Open(credbroker.SecretRef{Kind: "connector", ID: "other"}, sealed)
	fmt.Println(errors.Is(err, seal.ErrAuthFailed))
	fmt.Println(credbroker.AsError(err).Message)
	// Output:
	// 1 133 wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
	// true
	// sealed secret connector/other failed authentication: altered, moved from another record, or sealed under another master key
}
