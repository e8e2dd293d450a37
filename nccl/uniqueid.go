package nccl

import (
	"context"
	"fmt"
)

// UniqueID is ncclUniqueId: 128 opaque bytes that rank 0 creates and every
// rank passes to ncclCommInitRank.
type UniqueID [128]byte

// KV is the part of the rendezvous store used to exchange the unique id;
// *collective.Store implements it. Get must wait until the key is set or
// ctx ends.
type KV interface {
	Set(ctx context.Context, key string, value []byte) error
	Get(ctx context.Context, key string) ([]byte, error)
}

// DefaultIDKey is the store key under which rank 0 publishes the id.
const DefaultIDKey = "nccl/unique-id"

// ExchangeID gives every rank the same unique id: rank 0 calls create and
// stores the id under key; the other ranks wait for it. Use a new key for
// each communicator created in the same job.
func ExchangeID(ctx context.Context, store KV, key string, rank int, create func() (UniqueID, error)) (UniqueID, error) {
	var id UniqueID
	if store == nil {
		return id, fmt.Errorf("nccl: rank %d: no rendezvous store to exchange the unique id", rank)
	}
	if rank == 0 {
		id, err := create()
		if err != nil {
			return id, err
		}
		if err := store.Set(ctx, key, id[:]); err != nil {
			return id, fmt.Errorf("nccl: publish unique id: %w", err)
		}
		return id, nil
	}
	v, err := store.Get(ctx, key)
	if err != nil {
		return id, fmt.Errorf("nccl: rank %d: get unique id from the store (did rank 0 start?): %w", rank, err)
	}
	if len(v) != len(id) {
		return id, fmt.Errorf("nccl: rank %d: unique id under %q has %d bytes, want %d", rank, key, len(v), len(id))
	}
	copy(id[:], v)
	return id, nil
}
