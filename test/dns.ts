import { createSocket, type Socket } from 'node:dgram';
import * as dnsPacket from 'dns-packet';

export interface DnsStub {
  port: number;
  /** Answers by `TYPE name` (e.g. `A api.test`); a name without an entry gets NOERROR with no answers. */
  records: Map<string, dnsPacket.Answer[]>;
  /** Every question asked, as `TYPE name`, in arrival order. */
  asked: string[];
  /** Number of queries received. */
  queries: number;
  /** While true, queries are answered only on `release()` (a slow resolver, under the test's control). */
  hold: boolean;
  /** Answers every held query (from the records as they are now) and stops holding. */
  release(): void;
  close(): void;
}

/**
 * A real UDP DNS server on 127.0.0.1 answering from a table the test edits (dns-packet
 * encodes the wire format); point the gateway's resolver at it with `dns.servers`.
 *
 * @example
 *   const dns = await startDnsStub();
 *   dns.records.set('A api.test', [{ type: 'A', name: '', ttl: 5, data: '127.0.0.1' }]);
 *   // upstreams: { api: { dns: { name: api.test, port: 8080, servers: [ "127.0.0.1:${dns.port}" ] } } }
 */
export async function startDnsStub(): Promise<DnsStub> {
  const sock: Socket = createSocket('udp4');
  const held: (() => void)[] = [];
  const stub: DnsStub = {
    port: 0,
    records: new Map(),
    asked: [],
    queries: 0,
    hold: false,
    release() {
      stub.hold = false;
      for (const answer of held.splice(0)) answer();
    },
    close: () => sock.close(),
  };
  sock.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const question = q.questions?.[0];
    if (!question) return;
    stub.queries++;
    stub.asked.push(`${question.type} ${question.name}`);
    const answer = () => {
      const answers = (stub.records.get(`${question.type} ${question.name}`) ?? []).map((a) => ({ ...a, name: question.name }));
      const reply = dnsPacket.encode({ id: q.id, type: 'response', flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE, questions: q.questions, answers } as dnsPacket.Packet);
      sock.send(reply, rinfo.port, rinfo.address);
    };
    if (stub.hold) held.push(answer);
    else answer();
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  stub.port = sock.address().port;
  return stub;
}
