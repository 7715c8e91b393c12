// A group of three in three browsers: alice creates it by picking bob and carol with the search,
// everyone sees its title and member count, messages carry sender names and system messages are
// set apart, a mention of bob is marked for him, "Read by" tells alice who has read her message,
// two people typing at once are named together, and when alice removes carol the group leaves
// carol's page while the others see it shrink.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { launchBrowser, openPage, registerInPage, screenshotPath, uniqueName } from '../lib/harness.mjs';
import { openConversationWith, recordSentFrames, waitForMessage, waitForReceipt } from '../lib/page.mjs';

const TITLE = 'Deploys';

/** The group's item in the conversation list. */
function groupItem(page) {
  return page.locator('.conversation-item', { has: page.locator('.conversation-name', { hasText: TITLE }) });
}

/** Opens "Read by…" under the message `text` and answers [read by, delivered and not read]. */
async function readersOf(page, text) {
  await page.locator('.message', { hasText: text }).getByRole('button', { name: 'Who has read this message' }).click();
  await page.locator('#readers-panel').waitFor({ state: 'visible' });
  const lists = await page.$$eval('#readers-panel .readers-list', (uls) =>
    uls.map((ul) => [...ul.querySelectorAll('li:not(.hint)')].map((li) => li.textContent)));
  await page.getByRole('button', { name: 'Close' }).click();
  await page.locator('#readers-panel').waitFor({ state: 'hidden' });
  return lists.map((names) => names.sort());
}

describe('a group of three', () => {
  let browser;
  const people = {};
  const names = { alice: uniqueName('alice'), bob: uniqueName('bob'), carol: uniqueName('carol') };
  const hello = `hello team, @${names.bob} look`;

  before(async () => {
    browser = await launchBrowser();
    for (const who of ['alice', 'bob', 'carol']) {
      people[who] = await openPage(browser);
      people[who].sent = recordSentFrames(people[who].page);
      await registerInPage(people[who].page, names[who]);
    }
  });

  after(async () => {
    await browser?.close();
  });

  test('alice creates it, picking bob and carol with the search', async () => {
    const { page } = people.alice;
    await page.getByRole('button', { name: 'New group' }).click();
    await page.locator('#group-title').fill(TITLE);
    for (const who of ['bob', 'carol']) {
      await page.getByLabel('Find people').fill(names[who]);
      await page.getByRole('button', { name: `Add ${names[who]} to the new group` }).click();
      await page.locator('#group-picked li', { hasText: names[who] }).waitFor();
    }
    const created = people.alice.sent.next((f) => f.type === 'chat.create_group');
    await page.getByRole('button', { name: 'Create group' }).click();
    const frame = await created;
    assert.equal(frame.title, TITLE);
    assert.equal(frame.member_ids.length, 2);
    // The new group opens, with its title, its members and the system message of its creation.
    await page.locator('#conversation-title', { hasText: TITLE }).waitFor();
    await page.getByRole('button', { name: 'Members (3)' }).waitFor();
    await page.locator('.message.system[data-event="created"]', { hasText: `${names.alice} created the group` }).waitFor();
    assert.equal(await groupItem(page).locator('.member-count').textContent(), '3 members');
    // Bob and carol have it in their lists, no one's creation counting as unread.
    for (const who of ['bob', 'carol']) {
      const item = groupItem(people[who].page);
      await item.waitFor();
      assert.equal(await item.locator('.member-count').textContent(), '3 members');
      assert.equal(await item.locator('.unread').count(), 0);
    }
  });

  test('a message reaches both, with its sender named and the mention marked for bob', async () => {
    const { page } = people.alice;
    await page.locator('#composer-input').fill(hello);
    await page.locator('#composer-input').press('Enter');
    await waitForMessage(page, hello);
    // Carol has not opened the group: one unread, with alice's name in the preview.
    const carolItem = groupItem(people.carol.page);
    await carolItem.locator('.unread', { hasText: '1' }).waitFor();
    assert.equal(await carolItem.locator('.preview').textContent(), `${names.alice}: ${hello}`);
    // Bob's item says he was mentioned.
    await groupItem(people.bob.page).locator('.unread', { hasText: '@' }).waitFor();

    const bob = people.bob.page;
    await openConversationWith(bob, TITLE);
    await waitForMessage(bob, hello);
    const message = bob.locator('.message', { hasText: hello });
    assert.equal(await message.locator('.sender').textContent(), names.alice);
    assert.ok(await message.evaluate((li) => li.classList.contains('mentions-me')));
    assert.equal(await message.locator('mark.mention').textContent(), `@${names.bob}`);
    const system = bob.locator('.message.system').first();
    assert.equal(await system.evaluate((li) => getComputedStyle(li).textAlign), 'center');
  });

  test('"Read by" tells alice who has read her message', async () => {
    const { page } = people.alice;
    // Bob has read it, carol's page has received it: delivered to all.
    await waitForReceipt(page, hello, 'Delivered');
    assert.deepEqual(await readersOf(page, hello), [[names.bob], [names.carol]]);
    await openConversationWith(people.carol.page, TITLE);
    await waitForMessage(people.carol.page, hello);
    await waitForReceipt(page, hello, 'Seen');
    assert.deepEqual(await readersOf(page, hello), [[names.bob, names.carol].sort(), []]);
  });

  test('two typing at once are named together, and typing goes to the group', async () => {
    const typed = people.bob.sent.next((f) => f.type === 'chat.typing' && f.is_typing);
    await people.bob.page.locator('#composer-input').pressSequentially('on it', { delay: 20 });
    await people.carol.page.locator('#composer-input').pressSequentially('me too', { delay: 20 });
    const frame = await typed;
    assert.equal(typeof frame.conversation_id, 'number');
    assert.equal(frame.receiver_id, undefined);
    const line = people.alice.page.locator('#typing-indicator');
    await line.filter({ hasText: / are typing…$/ }).waitFor();
    const text = await line.textContent();
    assert.ok(
      [`${names.bob} and ${names.carol} are typing…`, `${names.carol} and ${names.bob} are typing…`].includes(text),
      text,
    );
    await people.alice.page.screenshot({ path: screenshotPath('group-typing') });
    // Both stop: the line goes.
    await people.bob.page.locator('#composer-input').fill('');
    await people.carol.page.locator('#composer-input').fill('');
    await people.alice.page.waitForFunction(() => document.getElementById('typing-indicator').textContent === '');
  });

  test('alice removes carol: the group leaves carol\'s page and shrinks for the others', async () => {
    const { page } = people.alice;
    await page.getByRole('button', { name: 'Members (3)' }).click();
    const panel = page.locator('#members-panel');
    await panel.waitFor({ state: 'visible' });
    assert.equal(await panel.locator('.member', { hasText: `${names.alice} (you)` }).locator('.role').textContent(), 'owner');
    assert.equal(await panel.locator('.member', { hasText: names.carol }).locator('.role').textContent(), 'member');
    await panel.getByRole('button', { name: `Remove: ${names.carol}` }).click();

    await page.locator('.message.system[data-event="member_removed"]', { hasText: `${names.alice} removed ${names.carol}` }).waitFor();
    await page.getByRole('button', { name: 'Members (2)' }).waitFor();
    assert.equal(await panel.locator('.member', { hasText: names.carol }).count(), 0);
    await groupItem(people.bob.page).locator('.member-count', { hasText: '2 members' }).waitFor();
    await people.bob.page.locator('.message.system', { hasText: `${names.alice} removed ${names.carol}` }).waitFor();

    const carol = people.carol.page;
    await groupItem(carol).waitFor({ state: 'detached' });
    await carol.locator('#chat-error', { hasText: `You are no longer a member of “${TITLE}”.` }).waitFor();
    assert.equal(await carol.locator('#composer').isHidden(), true);
  });

  test('bob mutes the group and unmutes it again', async () => {
    const bob = people.bob.page;
    await bob.getByRole('button', { name: 'Members (2)' }).click();
    const muted = people.bob.sent.next((f) => f.type === 'chat.mute');
    await bob.getByRole('button', { name: 'Mute', exact: true }).click();
    assert.equal((await muted).muted, true);
    // The server's chat.conversation_updated says so; the list and the button follow it.
    await groupItem(bob).locator('.muted-mark').waitFor();
    await bob.getByRole('button', { name: 'Unmute' }).click();
    await groupItem(bob).locator('.muted-mark').waitFor({ state: 'detached' });
    await bob.getByRole('button', { name: 'Mute', exact: true }).waitFor();
    for (const who of ['alice', 'bob', 'carol']) assert.deepEqual(people[who].problems, [], who);
  });
});
