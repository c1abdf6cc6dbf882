"""`lethe generate`: a realistic, deterministic landing zone in the real source formats (CONTRACT section 2).

Generating process, per tenant, for chunks of subjects at a time (numpy Generator seeded with
(seed, tenant, chunk, stream), so the same arguments give the same bytes):

1. Identity and lifecycle. Each subject has a country (tenant mix of GB/IE/DE/FR/NL), a name from
   small per-country lists, an e-mail (sometimes typed in mixed case), valid mobile and landline
   numbers rendered in mixed human formats, an address, and a customer status: active (60%),
   former (27%, contract ended; a quarter of them years ago, past every retention period) or
   prospect (13%), with CreatedDate and Contract_End_Date__c.
2. Latent variables. Base engagement e ~ Beta(2.2, 3) (probability of opening an e-mail), withdrawal
   sensitivity z ~ N(0, 1), and a contact-frequency segment with 0.1 / 0.2 / 0.4 marketing sends
   per week. Marketing consent is OptIn for 72% (captured explicitly, verbally, by a pre-ticked box
   or implied); 3% without consent are mailed anyway.
3. Withdrawal. A mailed subject withdraws with probability sigmoid(-1.5 + 0.8 z + 0.5 (segment - 1)
   - 2 (e - 0.4)), at an instant T_w uniform in their mail window after 90 days. Before T_w comes
   a fatigue phase of L ~ U(30, 90) days in which sends arrive 2.2x as often, the open probability
   falls linearly from e to 0.15 e (so unopened streaks lengthen), spam reports become likelier,
   and 35% place a complaint contact. The method is SendGrid unsubscribe (38%), group_unsubscribe
   (24%, a fifth of whom group_resubscribe later), spamreport (10%), or a CRM change:
   HasOptedOutOfEmail (14%), consent OptOut (8%), Individual HasOptedOutSolicit (6%). 4% of
   SendGrid and 15% of CRM withdrawers are mailed again afterwards (a violation to detect).
   As a distractor, 20% of never-withdrawers go quiet (open rate x0.3) for 60 days.
4. Events. Each send yields processed, then delivered (or dropped, bounce, deferred), opens with the
   probability above, clicks, and spam reports; service e-mails reach customers regardless of
   marketing withdrawals. Contacts (voice, chat, e-mail, task) arrive as a Poisson process with
   gamma-distributed rates; outbound calls also reach DoNotCall subjects; a share of recent calls is
   recorded (tiny WAV files); chats get transcripts where customers say their name, phone number,
   e-mail, card number, date of birth or address.
5. Records of the CRM (Contact, Individual, ContactPointTypeConsent, DataUsePurpose), DSR requests of
   every type (some unverified, some overdue), legal holds (open and closed), the centre's agents
   (passed, failed, lapsed training) and breaches (one notified after 72 hours).

Quirks on purpose: re-delivered CTRs (later LastUpdateTimestamp, later file) and webhook events (same
sg_event_id, next day's file), `category` as string or array, UTF-8 BOMs, `.gz` files, extra fields.
"""

from lethe.synth.generator import generate
from lethe.synth.summary import GenerateSummary, SourceCount

__all__ = ["GenerateSummary", "SourceCount", "generate"]
