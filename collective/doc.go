// Package collective lets the processes of a data-parallel job find each
// other and combine float32 buffers.
//
// It has three parts:
//
//   - a rendezvous [Store], a small key-value service hosted by rank 0 over
//     TCP that every rank reaches at MASTER_ADDR:MASTER_PORT; clients must
//     present the job token;
//   - the [Communicator] interface (all-reduce, broadcast, all-gather,
//     barrier) shared by every backend, the GPU one included;
//   - [Ring], the CPU backend: the ranks form a ring and run
//     bandwidth-optimal, pipelined collectives over it. Neighbours on one
//     host exchange data through shared memory, others over TCP (see
//     [Transport]).
//
// [Connect] performs the whole setup for one rank. Every operation has a
// deadline, and a rank that dies makes the others fail with an error that
// names the peer instead of hanging.
package collective
