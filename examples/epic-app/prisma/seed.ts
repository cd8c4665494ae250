// The demo's users: `admin` (role admin) and `alice` and `bob` (role user), each with the password
// `<username>-password`. Idempotent, so it can run on every start of the primary.
import { hashPassword } from '../app/auth.ts';
import { createPrisma } from '../app/db.ts';

const prisma = createPrisma();
for (const [username, role] of [['admin', 'admin'], ['alice', 'user'], ['bob', 'user']] as const) {
  if (await prisma.user.findUnique({ where: { username } })) continue;
  await prisma.user.create({
    data: {
      username,
      email: `${username}@example.com`,
      name: username[0]!.toUpperCase() + username.slice(1),
      password: { create: { hash: hashPassword(`${username}-password`) } },
      roles: { connect: { name: role } },
    },
  });
  console.log(`seeded user ${username} (${role})`);
}
await prisma.$disconnect();
